package dev.moeshard.cuda;

import java.lang.foreign.MemorySegment;

/**
 * Existing host memory page-locked in place with cudaHostRegister (for example an off-heap buffer that will be
 * copied to the device many times), unregistered on {@link #close()}. Not every mapping can be registered: a
 * read-only file mapping, for one, is refused by the driver, and the refusal is raised as a {@link CudaException}.
 */
public final class HostRegistration implements AutoCloseable {
    private final CudaRuntime cuda;
    private final MemorySegment memory;
    private boolean closed;

    private HostRegistration(CudaRuntime cuda, MemorySegment memory) {
        this.cuda = cuda;
        this.memory = memory;
    }

    public static HostRegistration register(MemorySegment host) {
        if (!host.isNative()) {
            throw new IllegalArgumentException("only native (off-heap) memory can be registered with CUDA");
        }
        CudaRuntime cuda = Cuda.runtime();
        cuda.hostRegister(host);
        return new HostRegistration(cuda, host);
    }

    public MemorySegment memory() {
        return memory;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            cuda.hostUnregister(memory);
        }
    }
}
