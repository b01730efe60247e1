package dev.moeshard.cuda;

import java.lang.foreign.MemorySegment;

/**
 * Host↔device transfers through two pinned chunks, double-buffered: while the GPU moves one chunk by DMA, the CPU
 * fills (or drains) the other from ordinary host memory, for example a memory-mapped file. Pageable memory cannot
 * be moved by DMA directly; the driver would stage it through its own small buffers synchronously.
 */
final class PinnedStaging implements AutoCloseable {
    static final long CHUNK_BYTES = 8L << 20;

    private final CudaRuntime cuda;
    private final PinnedBuffer[] chunks = new PinnedBuffer[2];
    private final CudaEvent[] done = new CudaEvent[2];
    private final boolean[] busy = new boolean[2];

    PinnedStaging(CudaRuntime cuda) {
        this.cuda = cuda;
        for (int i = 0; i < 2; i++) {
            chunks[i] = PinnedBuffer.allocate(CHUNK_BYTES);
            done[i] = CudaEvent.create();
        }
    }

    /** Copies {@code bytes} from host {@code src} to device address {@code dst}, returning once all has arrived. */
    synchronized void upload(MemorySegment src, long srcOffset, MemorySegment dst, long bytes, CudaStream stream) {
        int slot = 0;
        for (long at = 0; at < bytes; at += CHUNK_BYTES, slot ^= 1) {
            long n = Math.min(CHUNK_BYTES, bytes - at);
            if (busy[slot]) {
                done[slot].synchronize();
            }
            MemorySegment chunk = chunks[slot].memory();
            MemorySegment.copy(src, srcOffset + at, chunk, 0, n);
            cuda.memcpyAsync(at(dst, at), chunk, n, stream);
            done[slot].record(stream);
            busy[slot] = true;
        }
        stream.synchronize();
        busy[0] = busy[1] = false;
    }

    /** Copies {@code bytes} from device address {@code src} into host {@code dst}. */
    synchronized void download(MemorySegment src, MemorySegment dst, long dstOffset, long bytes, CudaStream stream) {
        long chunkCount = Math.ceilDiv(bytes, CHUNK_BYTES);
        if (chunkCount == 0) {
            return;
        }
        issue(src, 0, bytes, stream);
        for (long i = 0; i < chunkCount; i++) {
            if (i + 1 < chunkCount) {
                issue(src, i + 1, bytes, stream);
            }
            int slot = (int) (i & 1);
            done[slot].synchronize();
            long at = i * CHUNK_BYTES;
            MemorySegment.copy(chunks[slot].memory(), 0, dst, dstOffset + at, Math.min(CHUNK_BYTES, bytes - at));
        }
    }

    private void issue(MemorySegment src, long chunkIndex, long bytes, CudaStream stream) {
        int slot = (int) (chunkIndex & 1);
        long at = chunkIndex * CHUNK_BYTES;
        cuda.memcpyAsync(chunks[slot].memory(), at(src, at), Math.min(CHUNK_BYTES, bytes - at), stream);
        done[slot].record(stream);
    }

    private static MemorySegment at(MemorySegment pointer, long offset) {
        return MemorySegment.ofAddress(pointer.address() + offset);
    }

    @Override
    public void close() {
        for (int i = 0; i < 2; i++) {
            done[i].close();
            chunks[i].close();
        }
    }
}
