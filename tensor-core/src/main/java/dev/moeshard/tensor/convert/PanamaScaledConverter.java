package dev.moeshard.tensor.convert;

import java.lang.foreign.MemorySegment;

/**
 * A SIMD scaled converter: vectors over the whole-vector part of a run, the scalar scaled converter over the tail,
 * runs shorter than a vector, and heap segments the Vector API cannot address. The source is one byte per element
 * (FP8), so its offsets advance by the element count.
 */
abstract sealed class PanamaScaledConverter implements ScaledConverter
        permits PanamaScaledFp8Converters.ToF32, PanamaScaledFp8Converters.ToBf16, PanamaScaledFp8Converters.ToF16 {
    private final int outWidth;
    private final int lanes;
    private final ScaledConverter scalar;

    PanamaScaledConverter(int outWidth, int lanes, ScaledConverter scalar) {
        this.outWidth = outWidth;
        this.lanes = lanes;
        this.scalar = scalar;
    }

    @Override
    public final void convert(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count,
                              float scale) {
        long done = 0;
        if (count >= lanes && PanamaConverter.vectorAddressable(src) && PanamaConverter.vectorAddressable(dst)) {
            done = count - count % lanes;
            convertVectors(src, srcOffset, dst, dstOffset, done, scale);
        }
        if (done < count) {
            scalar.convert(src, srcOffset + done, dst, dstOffset + done * outWidth, count - done, scale);
        }
    }

    /** Converts {@code count} contiguous elements, a multiple of the lane count. */
    abstract void convertVectors(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count,
                                 float scale);
}
