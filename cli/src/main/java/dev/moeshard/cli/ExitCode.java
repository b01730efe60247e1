package dev.moeshard.cli;

import dev.moeshard.convert.DeviceMissingException;
import dev.moeshard.convert.InvalidInputException;
import dev.moeshard.convert.UsageException;
import dev.moeshard.moe.MissingExpertWeightsException;
import dev.moeshard.safetensors.SafetensorsFormatException;
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

    /**
     * The exit code of a job that failed with {@code e}: 5 a device missing, 2 usage, 3 invalid input, else 4 (I/O
     * failures, and whatever else a job dies of).
     */
    public static int of(Throwable e) {
        if (e instanceof DeviceMissingException) {
            return DEVICE_MISSING;
        }
        if (e instanceof UsageException) {
            return USAGE;
        }
        if (e instanceof InvalidInputException || e instanceof MissingExpertWeightsException
                || e instanceof SafetensorsFormatException || e instanceof IllegalArgumentException) {
            return INVALID_INPUT;
        }
        return IO_FAILURE;
    }

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
