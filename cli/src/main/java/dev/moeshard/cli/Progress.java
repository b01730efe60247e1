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

    /**
     * One finished step of a job of {@code total} bytes: what it was, the bytes done so far, the rate since
     * {@code startNanos} and the time left at that rate.
     */
    void step(String what, long done, long total, long startNanos) {
        double seconds = Math.max(1e-9, (System.nanoTime() - startNanos) / 1e9);
        double rate = done / seconds;
        double eta = rate > 0 ? (total - done) / rate : 0;
        line("%s: %.2f of %.2f GB (%d%%), %.2f GB/s, ETA %.0f s", what, done / 1e9, total / 1e9,
                total == 0 ? 100 : Math.round(100.0 * done / total), rate / 1e9, eta);
    }

    void line(String format, Object... args) {
        if (!quiet) {
            err.printf(format + "%n", args);
            err.flush();
        }
    }
}
