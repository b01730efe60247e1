package dev.moeshard.convert;

/**
 * The bytes a job has written out of its total, told to a {@link ProgressListener} step by step. One per job, so
 * that the units of every rank add up to one count that ends at the total.
 */
final class ByteProgress {
    private final ProgressListener listener;
    private final long total;
    private long done;

    ByteProgress(ProgressListener listener, long total) {
        this.listener = listener;
        this.total = total;
    }

    /** {@code bytes} more are written, with no step of their own to tell. */
    void add(long bytes) {
        done += bytes;
    }

    /** {@code bytes} more are written, finishing {@code what}. */
    void step(String what, long bytes) {
        done += bytes;
        listener.step(what, done, total);
    }

    /** Tells {@code what} as finished with the bytes so far. */
    void step(String what) {
        listener.step(what, done, total);
    }

    /**
     * {@code bytes} in all are written, finishing {@code what}: a whole unit is done, whatever its steps counted on the
     * way, so that the count ends at the total. Never goes back.
     */
    void reach(long bytes, String what) {
        done = Math.max(done, bytes);
        listener.step(what, done, total);
    }

    long total() {
        return total;
    }

    long done() {
        return done;
    }

    void message(String text) {
        listener.message(text);
    }
}
