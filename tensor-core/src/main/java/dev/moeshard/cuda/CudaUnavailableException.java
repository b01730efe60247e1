package dev.moeshard.cuda;

import java.util.List;

/** CUDA was asked for where it cannot be used; the message lists every reason found. */
public final class CudaUnavailableException extends RuntimeException {
    private final List<String> reasons;

    public CudaUnavailableException(List<String> reasons) {
        super("CUDA is not available: " + String.join("; ", reasons));
        this.reasons = List.copyOf(reasons);
    }

    public List<String> reasons() {
        return reasons;
    }
}
