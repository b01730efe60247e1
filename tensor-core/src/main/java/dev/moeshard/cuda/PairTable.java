package dev.moeshard.cuda;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.MemorySegment;
import java.util.Collection;
import java.util.List;

/**
 * The (destination, source) pointer table of batched launches, kept per device and grown as needed: written into
 * pinned memory, copied to the device asynchronously on the copy stream (so it is ordered before the kernels that
 * read it and after those that read its previous contents), with no allocation or synchronisation per batch.
 */
final class PairTable implements AutoCloseable {
    private PinnedBuffer host;
    private DeviceBuffer device;
    private final CudaEvent uploaded;
    private boolean pending;

    PairTable() {
        this.uploaded = CudaEvent.create();
    }

    /** Uploads the pairs of every batch in order and returns the device address of the first. */
    synchronized MemorySegment upload(Collection<List<long[]>> batches, int pairs, CudaStream stream) {
        long bytes = 16L * pairs;
        if (pending) {
            uploaded.synchronize(); // the pinned table may still be in flight from the previous batch
        }
        if (host == null || host.memory().byteSize() < bytes) {
            long size = Math.max(bytes, 64 * 1024);
            if (host != null) {
                stream.synchronize();
                host.close();
                device.close();
            }
            host = PinnedBuffer.allocate(size);
            device = DeviceBuffer.allocate(size);
        }
        MemorySegment table = host.memory();
        long i = 0;
        for (List<long[]> batch : batches) {
            for (long[] pair : batch) {
                table.setAtIndex(JAVA_LONG, 2 * i, pair[0]);
                table.setAtIndex(JAVA_LONG, 2 * i + 1, pair[1]);
                i++;
            }
        }
        Cuda.runtime().memcpyAsync(device.pointer(), table, bytes, stream);
        uploaded.record(stream);
        pending = true;
        return device.pointer();
    }

    @Override
    public synchronized void close() {
        uploaded.close();
        if (host != null) {
            host.close();
            device.close();
        }
    }
}
