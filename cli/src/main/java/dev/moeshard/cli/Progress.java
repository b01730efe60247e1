package dev.moeshard.cli;

import dev.moeshard.convert.ProgressListener;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A job's progress on stderr: a bar with rate and ETA when stderr is a terminal, else one line per finished step
 * (a layer, a rank), so that a log file stays readable; nothing at all when quiet. stdout is left to results.
 */
abstract sealed class Progress implements ProgressListener, AutoCloseable {
    static Progress create(PrintWriter err, boolean quiet, boolean terminal) {
        if (quiet) {
            return new Lines(err, true);
        }
        return terminal ? new Bar(err) : new Lines(err, false);
    }

    /** A line after the job: its summary. */
    abstract void line(String text);

    @Override
    public abstract void close();

    private static final class Lines extends Progress {
        private final PrintWriter err;
        private final boolean quiet;
        private final long startNanos = System.nanoTime();

        Lines(PrintWriter err, boolean quiet) {
            this.err = err;
            this.quiet = quiet;
        }

        @Override
        public void step(String what, long done, long total) {
            double seconds = Math.max(1e-9, (System.nanoTime() - startNanos) / 1e9);
            double rate = done / seconds;
            double eta = rate > 0 ? (total - done) / rate : 0;
            line(String.format("%s: %.2f of %.2f GB (%d%%), %.2f GB/s, ETA %.0f s", Text.escaped(what), done / 1e9,
                    total / 1e9, total == 0 ? 100 : Math.round(100.0 * done / total), rate / 1e9, eta));
        }

        @Override
        public void message(String text) {
            line(Text.escaped(text));
        }

        @Override
        void line(String text) {
            if (!quiet) {
                err.println(text);
                err.flush();
            }
        }

        @Override
        public void close() {}
    }

    /** The bar is drawn on the terminal; the job's lines wait until it is done, so that they do not tear it. */
    private static final class Bar extends Progress {
        private final PrintWriter err;
        private final List<String> held = new ArrayList<>();
        private ProgressBar bar;

        Bar(PrintWriter err) {
            this.err = err;
        }

        @Override
        public void step(String what, long done, long total) {
            if (bar == null) {
                bar = new ProgressBarBuilder().setTaskName("converting").setInitialMax(Math.max(1, total / 1_000_000))
                        .setUnit(" MB", 1).showSpeed().setStyle(ProgressBarStyle.ASCII)
                        .setConsumer(new ConsoleProgressBarConsumer(System.err)).build();
            }
            bar.maxHint(Math.max(1, total / 1_000_000));
            bar.stepTo(done / 1_000_000);
            bar.setExtraMessage(" " + Text.escaped(what));
        }

        @Override
        public void message(String text) {
            held.add(Text.escaped(text));
        }

        @Override
        void line(String text) {
            held.add(text);
        }

        @Override
        public void close() {
            if (bar != null) {
                bar.stepTo(bar.getMax()); // a finished job shows 100%
                bar.setExtraMessage(" done");
                bar.close();
            }
            held.forEach(err::println);
            err.flush();
        }
    }
}
