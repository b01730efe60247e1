package dev.moeshard.cuda;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

/**
 * Host↔device transfers through a ring of pinned chunks (multiple-buffered): while the GPU moves one chunk by DMA, the CPU
 * fills (or drains) the other from ordinary host memory, for example a memory-mapped file. Pageable memory cannot
 * be moved by DMA directly; the driver would stage it through its own small buffers synchronously.
 */
final class PinnedStaging implements AutoCloseable {
    private final CudaRuntime cuda;
    private final long chunkBytes;
    private final int slots;
    private final CopyEngine hostCopies;
    private final PinnedBuffer[] chunks;
    private final CudaEvent[] done;
    private final boolean[] busy;

    PinnedStaging(CudaRuntime cuda, StagingSettings settings) {
        this.cuda = cuda;
        this.chunkBytes = settings.chunkBytes();
        this.slots = settings.slots();
        this.hostCopies = CopyEngine.create(true, settings.hostThreads());
        this.chunks = new PinnedBuffer[slots];
        this.done = new CudaEvent[slots];
        this.busy = new boolean[slots];
        for (int i = 0; i < slots; i++) {
            chunks[i] = PinnedBuffer.allocate(chunkBytes);
            done[i] = CudaEvent.create();
        }
    }

    long chunkBytes() {
        return chunkBytes;
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
                long n = Math.min(chunkBytes - filled, part.bytes() - copied);
                hostCopy(part.segment(), part.offset() + copied, chunks[slot].memory(), filled, n);
                filled += n;
                copied += n;
                if (filled == chunkBytes) {
                    deviceAt = send(slot, filled, dst, deviceAt, stream);
                    filled = 0;
                    slot = (slot + 1) % slots;
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

    private void hostCopy(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long bytes) {
        hostCopies.copy(Tensor.wrap(dst.asSlice(dstOffset, bytes), DType.U8, bytes),
                Tensor.wrap(src.asSlice(srcOffset, bytes), DType.U8, bytes));
    }

    /** Copies {@code bytes} from device address {@code src} into host {@code dst}. */
    synchronized void download(MemorySegment src, MemorySegment dst, long dstOffset, long bytes, CudaStream stream) {
        long chunkCount = Math.ceilDiv(bytes, chunkBytes);
        if (chunkCount == 0) {
            return;
        }
        for (long i = 0; i < Math.min(slots, chunkCount); i++) {
            issue(src, i, bytes, stream);
        }
        for (long i = 0; i < chunkCount; i++) {
            int slot = (int) (i % slots);
            done[slot].synchronize();
            long at = i * chunkBytes;
            hostCopy(chunks[slot].memory(), 0, dst, dstOffset + at, Math.min(chunkBytes, bytes - at));
            if (i + slots < chunkCount) {
                issue(src, i + slots, bytes, stream);
            }
        }
    }

    private void issue(MemorySegment src, long chunkIndex, long bytes, CudaStream stream) {
        int slot = (int) (chunkIndex % slots);
        long at = chunkIndex * chunkBytes;
        cuda.memcpyAsync(chunks[slot].memory(), at(src, at), Math.min(chunkBytes, bytes - at), stream);
        done[slot].record(stream);
    }

    private static MemorySegment at(MemorySegment pointer, long offset) {
        return MemorySegment.ofAddress(pointer.address() + offset);
    }

    @Override
    public void close() {
        for (int i = 0; i < slots; i++) {
            done[i].close();
            chunks[i].close();
        }
    }
}
