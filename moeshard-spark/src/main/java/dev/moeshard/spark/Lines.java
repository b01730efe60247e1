package dev.moeshard.spark;

/** Text from the input (tensor names, paths) made safe for a terminal or a log: control characters shown, not obeyed. */
final class Lines {
    private Lines() {}

    /** {@code text} with a newline as {@code \n} and every other control character as {@code \xNN}. */
    static String escaped(String text) {
        StringBuilder b = new StringBuilder(text.length());
        text.chars().forEach(c -> {
            if (c == '\n') {
                b.append("\\n");
            } else if (Character.isISOControl(c)) {
                b.append(String.format("\\x%02x", c));
            } else {
                b.append((char) c);
            }
        });
        return b.toString();
    }
}
