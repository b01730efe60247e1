package dev.moeshard.cuda;

/** A CUDA runtime call returned an error: the call, the status code, and the runtime's own text for it. */
public final class CudaException extends RuntimeException {
    private final String call;
    private final int status;

    public CudaException(String call, int status, String errorName, String errorText) {
        super(call + " failed: " + errorName + " (" + status + "): " + errorText);
        this.call = call;
        this.status = status;
    }

    public CudaException(String message) {
        super(message);
        this.call = "";
        this.status = -1;
    }

    /** The runtime function that failed, e.g. {@code cudaMalloc}. */
    public String call() {
        return call;
    }

    /** The {@code cudaError_t} it returned. */
    public int status() {
        return status;
    }
}
