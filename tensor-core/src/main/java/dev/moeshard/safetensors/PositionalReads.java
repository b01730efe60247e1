package dev.moeshard.safetensors;

import dev.moeshard.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * Reads the bytes under a view of a mapped safetensors tensor with positional reads, into memory of the caller's,
 * instead of through the mapping. Two reasons. A mapped page whose file was truncated faults on access; Java turns
 * the fault into an {@code InternalError} in scalar and bulk copies but not in vectorized code, where it stops the
 * JVM, while a read of a truncated file simply comes back short and is reported with the file named. And a page read
 * once through a mapping costs a page fault and stays in the process's resident set, where a read costs neither
 * (benchmarks/RESULTS.md: a third of the peak RSS, and a one-layer merge from a fresh mapping no faster than from
 * pread).
 */
public final class PositionalReads {
    private PositionalReads() {}

    /** Whether {@code t} is a view of an open safetensors file's mapping, so that {@link #read} can read it. */
    public static boolean readable(Tensor t) {
        return t.device().isCpu() && t.dtype().isByteAligned() && t.storage().isMapped()
                && SafetensorsFile.holding(t.storage()).isPresent();
    }

    /**
     * {@code t}'s bytes, from its first element to its last ({@link Tensor#byteSpan()}), read from its file into the
     * start of {@code scratch}, and {@code t} as the same view of them.
     *
     * @throws IllegalArgumentException when {@code t} is not {@link #readable} or {@code scratch} is too small
     * @throws java.io.UncheckedIOException naming the file when it cannot be read or ends too soon
     */
    public static Tensor read(Tensor t, MemorySegment scratch) {
        SafetensorsFile file = SafetensorsFile.holding(t.storage()).orElseThrow(() -> new IllegalArgumentException(
                t + " is not a view of an open safetensors file"));
        long span = t.byteSpan();
        if (span > scratch.byteSize()) {
            throw new IllegalArgumentException(span + " bytes to read into " + scratch.byteSize() + " of scratch");
        }
        MemorySegment into = scratch.asSlice(0, span);
        file.read(t.storage().address() + t.byteOffset(), into);
        return Tensor.strided(into, t.dtype(), 0, t.sizes(), t.strides());
    }
}
