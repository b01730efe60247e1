package dev.moeshard.cli;

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

    private ExitCode() {}
}
