package dev.moeshard.convert;

import dev.moeshard.safetensors.ShardedCheckpointWriter;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Positional writes into an output ({@link ShardedCheckpointWriter#writeViaFile}) handed to threads of their own, so
 * that a copy thread builds its next buffer while the disk takes the last one: a write straight to disk waits for the
 * device, during which the core would otherwise idle, and several such writes in flight keep the device's queue
 * full. At most a few writes wait at once, so that buffers do not pile up ahead of a slow disk; a copy thread that
 * would exceed that waits for one to finish.
 */
final class WriteBehind implements AutoCloseable {
    /** Enough for the device's queue: a direct write waits for the device, and buffered ones take turns anyway. */
    private static final int MAX_THREADS = 16;
    private static final AtomicInteger POOLS = new AtomicInteger();

    private final ShardedCheckpointWriter out;
    private final Semaphore inFlight;
    private final ExecutorService threads;
    private final ConcurrentLinkedQueue<Future<?>> pending = new ConcurrentLinkedQueue<>();

    /** Writes into {@code out}, at most {@code inFlight} handed over and not yet done. */
    WriteBehind(ShardedCheckpointWriter out, int inFlight) {
        this.out = out;
        this.inFlight = new Semaphore(inFlight);
        int pool = POOLS.incrementAndGet();
        AtomicInteger number = new AtomicInteger();
        this.threads = Executors.newFixedThreadPool(Math.min(inFlight, MAX_THREADS), task -> {
            Thread t = new Thread(task, "moeshard-write-behind-" + pool + "-" + number.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Writes {@code bytes} into {@code region} of the output on a thread of its own, then runs {@code done} (which
     * takes the buffer back), whether the write succeeded or not; a failure is thrown by {@link #drain}.
     */
    void write(MemorySegment region, MemorySegment bytes, Runnable done) {
        inFlight.acquireUninterruptibly();
        try {
            pending.add(threads.submit(() -> {
                try {
                    out.writeViaFile(region, bytes);
                } finally {
                    done.run();
                    inFlight.release();
                }
            }));
        } catch (RuntimeException e) {
            done.run();
            inFlight.release();
            throw e;
        }
    }

    /** Waits for every write handed over so far; the first that failed is thrown, after all have finished. */
    void drain() {
        RuntimeException failure = null;
        for (Future<?> f = pending.poll(); f != null; f = pending.poll()) {
            try {
                awaitUninterruptibly(f);
            } catch (ExecutionException e) {
                RuntimeException cause = e.getCause() instanceof RuntimeException r ? r
                        : new IllegalStateException("a write into the output failed", e.getCause());
                if (failure == null) {
                    failure = cause;
                } else {
                    failure.addSuppressed(cause);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** Waits for what is still being written, failed or not, and stops the threads. */
    @Override
    public void close() {
        try {
            drain();
        } catch (RuntimeException alreadyRaised) {
            // raised by the drain that the copy made, or superseded by the failure that is closing this
        } finally {
            threads.shutdownNow();
        }
    }

    private static void awaitUninterruptibly(Future<?> f) throws ExecutionException {
        boolean interrupted = false;
        while (true) {
            try {
                f.get();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
