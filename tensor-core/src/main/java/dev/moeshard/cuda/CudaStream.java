package dev.moeshard.cuda;

import java.lang.foreign.MemorySegment;

/** A non-blocking CUDA stream, destroyed on {@link #close()}. */
public final class CudaStream implements AutoCloseable {
    private final CudaRuntime cuda;
    private final MemorySegment handle;
    private boolean closed;

    private CudaStream(CudaRuntime cuda, MemorySegment handle) {
        this.cuda = cuda;
        this.handle = handle;
    }

    public static CudaStream create() {
        CudaRuntime cuda = Cuda.runtime();
        return new CudaStream(cuda, cuda.streamCreate());
    }

    MemorySegment handle() {
        return handle;
    }

    /** Waits until all work queued on this stream has finished; errors of that work surface here. */
    public void synchronize() {
        cuda.streamSynchronize(handle);
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            cuda.streamDestroy(handle);
        }
    }
}
