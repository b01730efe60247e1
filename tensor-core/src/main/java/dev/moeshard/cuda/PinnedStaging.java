package dev.moeshard.cuda;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Host↔device transfers through a ring of pinned chunks. Pageable memory (for example a memory-mapped file) cannot
 * be moved by DMA directly, so each chunk is copied by the CPU into pinned memory and sent from there, or received
 * there and copied out.
 *
 * <p>One host thread's memcpy is several times slower than the link, so the host side is spread over threads, and
 * the way it is spread is what decides the rate: each worker copies whole chunks on its own, several chunks being
 * filled at once while earlier ones are in flight, and the calling thread only issues the transfers in order. Sharing
 * every chunk among all threads instead puts a barrier at each chunk, at which the link waits for the slowest
 * thread (measured on an H200 host: 30–39 GB/s that way against 46–48 GB/s this way, with a pinned-memory link of
 * 55 GB/s; benchmarks/RESULTS.md). A worker waits for its slot's previous transfer before reusing it, through that slot's event.
 */
final class PinnedStaging implements AutoCloseable {
    private static final AtomicInteger POOLS = new AtomicInteger();

    private final CudaRuntime cuda;
    private final long chunkBytes;
    private final int slots;
    private final PinnedBuffer[] chunks;
    private final CudaEvent[] sent;
    private final ExecutorService workers;
    /** Each worker copies a chunk on its own thread: the parallelism is across chunks, not within one. */
    private final CopyEngine chunkCopy = CopyEngine.create(true, 1);

    PinnedStaging(CudaRuntime cuda, StagingSettings settings) {
        this.cuda = cuda;
        this.chunkBytes = settings.chunkBytes();
        this.slots = settings.slots();
        this.chunks = new PinnedBuffer[slots];
        this.sent = new CudaEvent[slots];
        for (int i = 0; i < slots; i++) {
            chunks[i] = PinnedBuffer.allocate(chunkBytes);
            // Default events: the runtime spins while waiting, which here beat sleeping (0.84–0.86 of the link against
            // 0.64–0.86 with cudaEventBlockingSync, same machine and settings).
            sent[i] = CudaEvent.create();
        }
        int pool = POOLS.incrementAndGet();
        AtomicInteger threadNumber = new AtomicInteger();
        this.workers = Executors.newFixedThreadPool(settings.hostThreads(), task -> {
            Thread t = new Thread(task, "moeshard-staging-" + pool + "-" + threadNumber.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    long chunkBytes() {
        return chunkBytes;
    }

    int slots() {
        return slots;
    }

    /** A run of host bytes to upload. */
    record HostBytes(MemorySegment segment, long offset, long bytes) {}

    /** The part of one {@link HostBytes} that lands in one chunk, at {@code chunkOffset}. */
    private record Piece(MemorySegment segment, long offset, long chunkOffset, long bytes) {}

    /** Copies {@code bytes} from host {@code src} to device address {@code dst}, returning once all has arrived. */
    void upload(MemorySegment src, long srcOffset, MemorySegment dst, long bytes, CudaStream stream) {
        uploadAll(List.of(new HostBytes(src, srcOffset, bytes)), dst, stream);
    }

    /**
     * Uploads {@code parts} back to back from device address {@code dst} on, packing them into the pinned chunks,
     * and returns once all has arrived.
     */
    synchronized void uploadAll(List<HostBytes> parts, MemorySegment dst, CudaStream stream) {
        List<List<Piece>> plan = chunked(parts);
        int n = plan.size();
        List<Future<?>> fills = new ArrayList<>(n);
        try {
            for (int k = 0; k < Math.min(slots, n); k++) {
                fills.add(fill(plan.get(k), k % slots, false));
            }
            for (int k = 0; k < n; k++) {
                await(fills.get(k));
                int slot = k % slots;
                cuda.memcpyAsync(at(dst, k * chunkBytes), chunks[slot].memory(), used(plan.get(k)), stream);
                sent[slot].record(stream);
                if (k + slots < n) {
                    fills.add(fill(plan.get(k + slots), slot, true));
                }
            }
        } finally {
            settle(fills, stream);
        }
    }

    private Future<?> fill(List<Piece> pieces, int slot, boolean afterPreviousTransfer) {
        return workers.submit(() -> {
            if (afterPreviousTransfer) {
                sent[slot].synchronize();
            }
            for (Piece p : pieces) {
                hostCopy(p.segment(), p.offset(), chunks[slot].memory(), p.chunkOffset(), p.bytes());
            }
        });
    }

    /** The parts cut at chunk boundaries, one list of pieces per chunk. */
    private List<List<Piece>> chunked(List<HostBytes> parts) {
        List<List<Piece>> plan = new ArrayList<>();
        List<Piece> current = new ArrayList<>();
        long filled = 0;
        for (HostBytes part : parts) {
            long taken = 0;
            while (taken < part.bytes()) {
                long n = Math.min(chunkBytes - filled, part.bytes() - taken);
                current.add(new Piece(part.segment(), part.offset() + taken, filled, n));
                filled += n;
                taken += n;
                if (filled == chunkBytes) {
                    plan.add(current);
                    current = new ArrayList<>();
                    filled = 0;
                }
            }
        }
        if (filled > 0) {
            plan.add(current);
        }
        return plan;
    }

    private static long used(List<Piece> pieces) {
        Piece last = pieces.getLast();
        return last.chunkOffset() + last.bytes();
    }

    /** Copies {@code bytes} from device address {@code src} into host {@code dst}. */
    synchronized void download(MemorySegment src, MemorySegment dst, long dstOffset, long bytes, CudaStream stream) {
        int n = Math.toIntExact(Math.ceilDiv(bytes, chunkBytes));
        List<Future<?>> drains = new ArrayList<>(n);
        try {
            for (int k = 0; k < Math.min(slots, n); k++) {
                drains.add(receive(src, k, bytes, dst, dstOffset, stream));
            }
            for (int k = 0; k < n; k++) {
                await(drains.get(k));
                if (k + slots < n) {
                    drains.add(receive(src, k + slots, bytes, dst, dstOffset, stream));
                }
            }
        } finally {
            settle(drains, stream);
        }
    }

    /** Issues chunk {@code k}'s transfer into its slot and hands the copy out of it to a worker. */
    private Future<?> receive(MemorySegment src, int k, long bytes, MemorySegment dst, long dstOffset,
                              CudaStream stream) {
        int slot = k % slots;
        long at = k * chunkBytes;
        long n = Math.min(chunkBytes, bytes - at);
        cuda.memcpyAsync(chunks[slot].memory(), at(src, at), n, stream);
        sent[slot].record(stream);
        return workers.submit(() -> {
            sent[slot].synchronize();
            hostCopy(chunks[slot].memory(), 0, dst, dstOffset + at, n);
        });
    }

    private void hostCopy(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long bytes) {
        chunkCopy.copy(Tensor.wrap(dst.asSlice(dstOffset, bytes), DType.U8, bytes),
                Tensor.wrap(src.asSlice(srcOffset, bytes), DType.U8, bytes));
    }

    private static void await(Future<?> task) {
        try {
            task.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException("staging copy failed", e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while staging a transfer", e);
        }
    }

    /**
     * Waits for every submitted copy and every issued transfer, failed or not, so that nothing still reads or writes
     * the chunks, or the caller's memory, once this returns.
     */
    private static void settle(List<Future<?>> tasks, CudaStream stream) {
        boolean interrupted = false;
        for (Future<?> task : tasks) {
            while (true) {
                try {
                    task.get();
                    break;
                } catch (ExecutionException e) {
                    break; // already raised by await, or superseded by the failure being raised
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        stream.synchronize();
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static MemorySegment at(MemorySegment pointer, long offset) {
        return MemorySegment.ofAddress(pointer.address() + offset);
    }

    @Override
    public void close() {
        workers.shutdownNow();
        for (int i = 0; i < slots; i++) {
            sent[i].close();
            chunks[i].close();
        }
    }
}
