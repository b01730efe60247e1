package dev.moeshard.convert;

/**
 * Hears how a conversion goes: one {@link #step} per finished unit of work (a layer of one rank, a grouped tensor
 * split), with the bytes written so far out of the job's total, and a {@link #message} for each finished output and
 * decision worth a line. Called from the thread that runs the job; rendering (a bar, lines, nothing) is the caller's.
 */
public interface ProgressListener {
    /** Hears nothing. */
    ProgressListener NONE = new ProgressListener() {
        @Override
        public void step(String what, long doneBytes, long totalBytes) {}

        @Override
        public void message(String text) {}
    };

    /** {@code what} is done; {@code doneBytes} of {@code totalBytes} output bytes are written. */
    void step(String what, long doneBytes, long totalBytes);

    /** A line about the job: an output finished, a choice made. */
    void message(String text);
}
