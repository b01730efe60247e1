package dev.moeshard.cli;

/** Text from the input (tensor names, paths) made safe for a terminal: control characters shown, never obeyed. */
final class Text {
    private Text() {}

    /** {@code text} with each control character written as {@code \xNN} (a newline as {@code \n}). */
    static String escaped(String text) {
        StringBuilder b = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean control = Character.isISOControl(c);
            if (control && b == null) {
                b = new StringBuilder(text.length() + 8).append(text, 0, i);
            }
            if (b != null) {
                if (c == '\n') {
                    b.append("\\n");
                } else if (control) {
                    b.append(String.format("\\x%02x", (int) c));
                } else {
                    b.append(c);
                }
            }
        }
        return b == null ? text : b.toString();
    }
}
