package dev.moeshard.cuda;

import java.lang.foreign.MemorySegment;

/**
 * Page-locked host memory from cudaMallocHost, freed on {@link #close()}. The GPU reads and writes it by DMA, so
 * copies between it and the device run at full link speed and can be asynchronous.
 */
public final class PinnedBuffer implements AutoCloseable {
    private final CudaRuntime cuda;
    private final MemorySegment memory;
    private boolean closed;

    private PinnedBuffer(CudaRuntime cuda, MemorySegment memory) {
        this.cuda = cuda;
        this.memory = memory;
    }

    public static PinnedBuffer allocate(long bytes) {
        CudaRuntime cuda = Cuda.runtime();
        return new PinnedBuffer(cuda, cuda.mallocHost(bytes));
    }

    /** The host memory, readable and writable from Java. */
    public MemorySegment memory() {
        if (closed) {
            throw new IllegalStateException("pinned buffer of " + memory.byteSize() + " bytes was freed");
        }
        return memory;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            cuda.freeHost(memory);
        }
    }
}
