package dev.moeshard.tensor.convert;

import java.lang.foreign.MemorySegment;

/**
 * Converts a contiguous run of elements and multiplies each by one scale on the way, as block dequantization needs:
 * each element becomes {@code float(x) * scale}, computed in F32, then rounded once to the target (nearest, ties to
 * even, with the target's {@link dev.moeshard.tensor.FloatFormat} rules for overflow and NaN). Fusing the two steps
 * spares a full F32 temporary and a second pass over it. Offsets are in bytes.
 */
@FunctionalInterface
public interface ScaledConverter {
    void convert(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count, float scale);
}
