package dev.moeshard.cuda;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

/**
 * Host↔device transfers through a ring of pinned chunks (multiple-buffered): while the GPU moves one chunk by DMA, the CPU
 * fills (or drains) the other from ordinary host memory, for example a memory-mapped file. Pageable memory cannot
 * be moved by DMA directly; the driver would stage it through its own small buffers synchronously.
 */
final class PinnedStaging implements AutoCloseable {
    static final long CHUNK_BYTES = 32L << 20;
    /** Chunks in flight: enough that a slow host copy of one chunk does not leave the link idle. */
    private static final int SLOTS = 3;

    private final CudaRuntime cuda;
    private final PinnedBuffer[] chunks = new PinnedBuffer[SLOTS];
    private final CudaEvent[] done = new CudaEvent[SLOTS];
    private final boolean[] busy = new boolean[SLOTS];

    PinnedStaging(CudaRuntime cuda) {
        this.cuda = cuda;
        for (int i = 0; i < SLOTS; i++) {
            chunks[i] = PinnedBuffer.allocate(CHUNK_BYTES);
            done[i] = CudaEvent.create();
        }
    }

    /** A run of host bytes to upload. */
    record HostBytes(MemorySegment segment, long offset, long bytes) {}

    /** Copies {@code bytes} from host {@code src} to device address {@code dst}, returning once all has arrived. */
    void upload(MemorySegment src, long srcOffset, MemorySegment dst, long bytes, CudaStream stream) {
        uploadAll(List.of(new HostBytes(src, srcOffset, bytes)), dst, stream);
    }

    /**
     * Uploads {@code parts} back to back from device address {@code dst} on, packing them into the pinned chunks,
     * and returns once all has arrived. The host-side copies into a chunk are spread over the copy engine's
     * threads: a single thread's memcpy is slower than the link, which would then wait for it.
     */
    synchronized void uploadAll(List<HostBytes> parts, MemorySegment dst, CudaStream stream) {
        int slot = 0;
        long filled = 0;
        long deviceAt = 0;
        for (HostBytes part : parts) {
            long copied = 0;
            while (copied < part.bytes()) {
                if (filled == 0 && busy[slot]) {
                    done[slot].synchronize();
                }
                long n = Math.min(CHUNK_BYTES - filled, part.bytes() - copied);
                hostCopy(part.segment(), part.offset() + copied, chunks[slot].memory(), filled, n);
                filled += n;
                copied += n;
                if (filled == CHUNK_BYTES) {
                    deviceAt = send(slot, filled, dst, deviceAt, stream);
                    filled = 0;
                    slot = (slot + 1) % SLOTS;
                }
            }
        }
        if (filled > 0) {
            send(slot, filled, dst, deviceAt, stream);
        }
        stream.synchronize();
        Arrays.fill(busy, false);
    }

    private long send(int slot, long bytes, MemorySegment dst, long deviceAt, CudaStream stream) {
        cuda.memcpyAsync(at(dst, deviceAt), chunks[slot].memory(), bytes, stream);
        done[slot].record(stream);
        busy[slot] = true;
        return deviceAt + bytes;
    }

    private static void hostCopy(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long bytes) {
        Tensor.wrap(dst.asSlice(dstOffset, bytes), DType.U8, bytes)
                .copyFrom(Tensor.wrap(src.asSlice(srcOffset, bytes), DType.U8, bytes));
    }

    /** Copies {@code bytes} from device address {@code src} into host {@code dst}. */
    synchronized void download(MemorySegment src, MemorySegment dst, long dstOffset, long bytes, CudaStream stream) {
        long chunkCount = Math.ceilDiv(bytes, CHUNK_BYTES);
        if (chunkCount == 0) {
            return;
        }
        for (long i = 0; i < Math.min(SLOTS, chunkCount); i++) {
            issue(src, i, bytes, stream);
        }
        for (long i = 0; i < chunkCount; i++) {
            int slot = (int) (i % SLOTS);
            done[slot].synchronize();
            long at = i * CHUNK_BYTES;
            hostCopy(chunks[slot].memory(), 0, dst, dstOffset + at, Math.min(CHUNK_BYTES, bytes - at));
            if (i + SLOTS < chunkCount) {
                issue(src, i + SLOTS, bytes, stream);
            }
        }
    }

    private void issue(MemorySegment src, long chunkIndex, long bytes, CudaStream stream) {
        int slot = (int) (chunkIndex % SLOTS);
        long at = chunkIndex * CHUNK_BYTES;
        cuda.memcpyAsync(chunks[slot].memory(), at(src, at), Math.min(CHUNK_BYTES, bytes - at), stream);
        done[slot].record(stream);
    }

    private static MemorySegment at(MemorySegment pointer, long offset) {
        return MemorySegment.ofAddress(pointer.address() + offset);
    }

    @Override
    public void close() {
        for (int i = 0; i < SLOTS; i++) {
            done[i].close();
            chunks[i].close();
        }
    }
}
