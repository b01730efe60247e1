package dev.moeshard.cli;

import java.io.PrintWriter;

/**
 * Progress lines on stderr, one per finished step (a layer, a rank), so that they stay readable when stderr is a
 * file; nothing at all when quiet. stdout is left to a command's results.
 */
final class Progress {
    private final PrintWriter err;
    private final boolean quiet;

    Progress(PrintWriter err, boolean quiet) {
        this.err = err;
        this.quiet = quiet;
    }

    void line(String format, Object... args) {
        if (!quiet) {
            err.printf(format + "%n", args);
            err.flush();
        }
    }
}
