package dev.moeshard.spark;

import dev.moeshard.cli.ExitCode;
import org.apache.spark.SparkException;

/**
 * A failure of the job as the user gets it: the library's own exception (Spark wraps a task's in a
 * {@link SparkException} that says which task and attempt lost), its message, and the exit code the moeshard
 * command gives for it.
 */
final class Failures {
    private Failures() {}

    /** The exception that says what went wrong: a task's, unwrapped from Spark's job failure where it carries it. */
    static Throwable cause(Throwable e) {
        Throwable t = e;
        while (t instanceof SparkException && t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }

    /** The moeshard command's exit code for {@code e}: 2 usage, 3 invalid input, 4 I/O, 5 a device missing. */
    static int exitCode(Throwable e) {
        return ExitCode.of(cause(e));
    }

    /** The message of {@code e}'s cause, each line escaped; its class name where it has none. */
    static String message(Throwable e) {
        Throwable t = cause(e);
        String message = t.getMessage();
        if (message == null || message.isBlank()) {
            return t.getClass().getSimpleName();
        }
        return String.join(System.lineSeparator(), message.lines().map(Lines::escaped).toList());
    }
}
