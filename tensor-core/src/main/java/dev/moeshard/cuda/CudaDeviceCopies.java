package dev.moeshard.cuda;

import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.DeviceCopies;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * CUDA's {@link DeviceCopies}: {@link CudaMemory} and {@link CudaCopies} behind the tensor package's interface.
 * {@link Tensor} loads it by name the first time a device is asked for; constructing it touches nothing, so
 * libcudart is bound (and its absence reported, as {@link CudaUnavailableException}) only on the first real call.
 * Public only so that the lookup can construct it; call {@link Tensor} and {@link CudaCopies} instead.
 */
public final class CudaDeviceCopies implements DeviceCopies {

    /** For the tensor package's reflective lookup. */
    public CudaDeviceCopies() {}

    @Override
    public MemorySegment allocate(Device device, long bytes, Arena arena) {
        return CudaMemory.allocate(device, bytes, arena);
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        CudaCopies.copy(dst, src);
    }

    @Override
    public void copyAll(List<Tensor> dsts, List<Tensor> srcs) {
        CudaCopies.copyAll(dsts, srcs);
    }
}
