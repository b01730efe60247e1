package dev.moeshard.spark;

import dev.moeshard.convert.ProgressListener;
import java.io.PrintWriter;

/** The driver's own progress (staging, finalizing) as lines on stderr, or nothing when quiet. */
final class DriverLines implements ProgressListener {
    private final PrintWriter err;
    private final boolean quiet;

    DriverLines(PrintWriter err, boolean quiet) {
        this.err = err;
        this.quiet = quiet;
    }

    @Override
    public void step(String what, long doneBytes, long totalBytes) {
        line(String.format("%s: %.2f of %.2f GB", Lines.escaped(what), doneBytes / 1e9, totalBytes / 1e9));
    }

    @Override
    public void message(String text) {
        line(Lines.escaped(text));
    }

    void line(String text) {
        if (!quiet) {
            err.println(text);
            err.flush();
        }
    }
}
