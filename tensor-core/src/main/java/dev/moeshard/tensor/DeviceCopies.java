package dev.moeshard.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * What {@link Tensor} and {@link TensorOps} need from an accelerator: device memory, and copies where either side
 * lives on a device. The tensor package owns this interface and the {@code cuda} package provides it
 * ({@code dev.moeshard.cuda.CudaDeviceCopies}), so that the dependency runs one way only: cuda builds on tensor,
 * tensor knows cuda by name alone and looks the provider up once, the first time a device is asked for
 * ({@link DeviceCopiesLookup}). A host-only process never loads the provider, let alone libcudart.
 *
 * <p>Implementations throw their own unchecked exception, with the reasons, where the device cannot be used.
 */
public interface DeviceCopies {

    /**
     * {@code bytes} of uninitialised memory on {@code device}, freed when {@code arena} closes (or, for an automatic
     * arena, once no view of it is reachable): a segment sized {@code bytes} that holds the device address.
     */
    MemorySegment allocate(Device device, long bytes, Arena arena);

    /** {@code dst <- src}, same shape, where at least one of the two is on a device. */
    void copy(Tensor dst, Tensor src);

    /** {@code dsts[i] <- srcs[i]} for every i, where some pair has a side on a device; a batch may go as one launch. */
    void copyAll(List<Tensor> dsts, List<Tensor> srcs);
}
