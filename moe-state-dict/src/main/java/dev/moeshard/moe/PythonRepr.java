package dev.moeshard.moe;

import java.util.List;

/** Python's {@code repr} of a list of strings, so that messages read as the reference's do: {@code ['a', 'b']}. */
final class PythonRepr {
    private PythonRepr() {}

    static String stringList(List<String> items) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < items.size(); i++) {
            sb.append(i == 0 ? "" : ", ").append('\'').append(items.get(i).replace("\\", "\\\\").replace("'", "\\'")).append('\'');
        }
        return sb.append(']').toString();
    }
}
