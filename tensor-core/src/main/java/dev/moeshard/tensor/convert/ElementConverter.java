package dev.moeshard.tensor.convert;

import java.lang.foreign.MemorySegment;

/**
 * Converts a run of elements from one dtype to another. Offsets and strides are in bytes; a stride equal to the
 * element width means the run is contiguous, which is where the SIMD implementations apply.
 */
@FunctionalInterface
public interface ElementConverter {
    void convert(MemorySegment src, long srcOffset, long srcStride,
                 MemorySegment dst, long dstOffset, long dstStride, long count);
}
