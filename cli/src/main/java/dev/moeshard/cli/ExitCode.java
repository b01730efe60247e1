package dev.moeshard.cli;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** The exit codes of the moeshard command; scripts rely on them. */
public final class ExitCode {
    /** Done. */
    public static final int OK = 0;
    /** verify found a difference. */
    public static final int DIFFERENT = 1;
    /** The command line was wrong. */
    public static final int USAGE = 2;
    /** The input is invalid or incomplete; nothing was written. */
    public static final int INVALID_INPUT = 3;
    /** Reading or writing a file failed. */
    public static final int IO_FAILURE = 4;
    /** A requested device (CUDA) is missing. */
    public static final int DEVICE_MISSING = 5;

    /** The list {@code --help} shows. */
    static final Map<String, String> DESCRIPTIONS = descriptions();

    private ExitCode() {}

    private static Map<String, String> descriptions() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(OK + "", "done");
        m.put(DIFFERENT + "", "verify found a difference");
        m.put(USAGE + "", "usage: the command line asks for something that cannot be done");
        m.put(INVALID_INPUT + "", "invalid or incomplete input; nothing was written");
        m.put(IO_FAILURE + "", "reading or writing a file failed");
        m.put(DEVICE_MISSING + "", "a requested device (CUDA) is missing; the line says why");
        return Collections.unmodifiableMap(m);
    }
}
