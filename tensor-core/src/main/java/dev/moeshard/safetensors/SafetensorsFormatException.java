package dev.moeshard.safetensors;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A safetensors file or {@code model.safetensors.index.json} that breaks the format, or a request the file cannot
 * answer (a key it does not hold). The message always names the file and, when one is involved, the key, so that a
 * user can find the culprit in a directory of shards without a stack trace.
 */
public final class SafetensorsFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;
    private final String key;

    /** A problem with the file as a whole (its size, its header length, its JSON). */
    public SafetensorsFormatException(Path file, String problem) {
        this(file, null, problem, null);
    }

    /** A problem with one key of the file; {@code key} may be null when none is involved. */
    public SafetensorsFormatException(Path file, String key, String problem) {
        this(file, key, problem, null);
    }

    public SafetensorsFormatException(Path file, String key, String problem, Throwable cause) {
        super(describe(file, key, problem), cause);
        this.file = Objects.requireNonNull(file, "file");
        this.key = key;
    }

    /** The file at fault. */
    public Path file() {
        return file;
    }

    /** The offending key, or null when the problem is not about one key. */
    public String key() {
        return key;
    }

    private static String describe(Path file, String key, String problem) {
        return key == null ? file + ": " + problem : file + ": key '" + key + "': " + problem;
    }
}
