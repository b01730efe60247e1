package dev.moeshard.cuda;

import java.lang.foreign.MemorySegment;

/** A CUDA event: a point in a stream to wait for or time from, destroyed on {@link #close()}. */
public final class CudaEvent implements AutoCloseable {
    private final CudaRuntime cuda;
    private final MemorySegment handle;
    private boolean closed;

    private CudaEvent(CudaRuntime cuda, MemorySegment handle) {
        this.cuda = cuda;
        this.handle = handle;
    }

    public static CudaEvent create() {
        CudaRuntime cuda = Cuda.runtime();
        return new CudaEvent(cuda, cuda.eventCreate());
    }

    /** Marks the point in {@code stream} reached once all work queued before it is done. */
    public void record(CudaStream stream) {
        cuda.eventRecord(handle, stream.handle());
    }

    public void synchronize() {
        cuda.eventSynchronize(handle);
    }

    /** Milliseconds between {@code start} and this event, both recorded and completed. */
    public float millisSince(CudaEvent start) {
        return cuda.eventElapsedMillis(start.handle, handle);
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            cuda.eventDestroy(handle);
        }
    }
}
