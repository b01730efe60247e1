package dev.moeshard.cuda;

import dev.moeshard.tensor.Device;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Device memory for tensors, freed by the garbage collector once no view of it is reachable, or with an arena. */
public final class CudaMemory {
    private CudaMemory() {}

    /**
     * {@code bytes} of memory on {@code device}: a segment holding the device address, sized {@code bytes}, whose
     * automatic arena frees it with cudaFree when it becomes unreachable (every view of a tensor holds it).
     */
    public static MemorySegment allocateAuto(Device device, long bytes) {
        return allocate(device, bytes, Arena.ofAuto());
    }

    /**
     * {@code bytes} of memory on {@code device}, freed with cudaFree when {@code arena} closes: for intermediates
     * whose end is known (a layer's uploads), which the collector would free only whenever it next ran, leaving
     * device memory to pile up layer after layer. cudaFree waits for the device's queued work, so work still
     * reading the memory finishes first.
     */
    public static MemorySegment allocate(Device device, long bytes, Arena arena) {
        CudaRuntime cuda = Cuda.runtime();
        int index = device.index();
        cuda.setDevice(index);
        MemorySegment pointer = cuda.malloc(Math.max(bytes, 1));
        return pointer.reinterpret(bytes, arena, freed -> {
            // An automatic arena's cleaner runs on its own thread, whose current device may differ.
            cuda.setDevice(index);
            cuda.free(freed);
        });
    }
}
