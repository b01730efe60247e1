package dev.moeshard.cuda;

import java.lang.foreign.MemorySegment;

/**
 * Memory on the current CUDA device, from cudaMalloc, freed on {@link #close()}. {@link #pointer()} is the device
 * address as a {@link MemorySegment} of the buffer's size: it can be handed to CUDA calls and used as a device
 * tensor's storage, but never read or written from the host.
 */
public final class DeviceBuffer implements AutoCloseable {
    private final CudaRuntime cuda;
    private final MemorySegment pointer;
    private boolean closed;

    private DeviceBuffer(CudaRuntime cuda, MemorySegment pointer) {
        this.cuda = cuda;
        this.pointer = pointer;
    }

    /** {@code bytes} of device memory (at least one byte is asked for, so that an empty tensor has an address). */
    public static DeviceBuffer allocate(long bytes) {
        CudaRuntime cuda = Cuda.runtime();
        return new DeviceBuffer(cuda, cuda.malloc(Math.max(bytes, 1)).reinterpret(bytes));
    }

    public MemorySegment pointer() {
        if (closed) {
            throw new IllegalStateException("device buffer of " + pointer.byteSize() + " bytes was freed");
        }
        return pointer;
    }

    public long byteSize() {
        return pointer.byteSize();
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            cuda.free(pointer);
        }
    }
}
