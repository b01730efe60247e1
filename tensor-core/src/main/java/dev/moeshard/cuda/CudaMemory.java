package dev.moeshard.cuda;

import dev.moeshard.tensor.Device;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Device memory for tensors, freed by the garbage collector once no view of it is reachable. */
public final class CudaMemory {
    private CudaMemory() {}

    /**
     * {@code bytes} of memory on {@code device}: a segment holding the device address, sized {@code bytes}, whose
     * automatic arena frees it with cudaFree when it becomes unreachable (every view of a tensor holds it).
     */
    public static MemorySegment allocateAuto(Device device, long bytes) {
        CudaRuntime cuda = Cuda.runtime();
        int index = device.index();
        cuda.setDevice(index);
        MemorySegment pointer = cuda.malloc(Math.max(bytes, 1));
        return pointer.reinterpret(bytes, Arena.ofAuto(), freed -> {
            // The cleaner runs on its own thread, whose current device may differ.
            cuda.setDevice(index);
            cuda.free(freed);
        });
    }
}
