package dev.moeshard.tensor.convert;

import java.lang.foreign.MemorySegment;

/**
 * A SIMD converter: vectors over the whole-vector part of a contiguous run, the scalar converter over everything
 * else (strided runs, the tail, runs shorter than a vector, heap segments the Vector API cannot address).
 */
abstract sealed class PanamaConverter implements ElementConverter
        permits PanamaBf16Converters.ToF32, PanamaBf16Converters.FromF32,
                PanamaF16Converters.ToF32, PanamaF16Converters.FromF32, PanamaFp8Converters.Widen {
    private final int inWidth;
    private final int outWidth;
    private final int lanes;
    private final ElementConverter scalar;

    PanamaConverter(int inWidth, int outWidth, int lanes, ElementConverter scalar) {
        this.inWidth = inWidth;
        this.outWidth = outWidth;
        this.lanes = lanes;
        this.scalar = scalar;
    }

    @Override
    public final void convert(MemorySegment src, long srcOffset, long srcStride,
                              MemorySegment dst, long dstOffset, long dstStride, long count) {
        long done = 0;
        if (count >= lanes && srcStride == inWidth && dstStride == outWidth
                && vectorAddressable(src) && vectorAddressable(dst)) {
            done = count - count % lanes;
            convertVectors(src, srcOffset, dst, dstOffset, done);
        }
        if (done < count) {
            scalar.convert(src, srcOffset + done * srcStride, srcStride,
                    dst, dstOffset + done * dstStride, dstStride, count - done);
        }
    }

    /** Converts {@code count} contiguous elements, a multiple of the lane count. */
    abstract void convertVectors(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count);

    /** The Vector API reads and writes native (including mapped) segments, and heap segments only over a byte[]. */
    static boolean vectorAddressable(MemorySegment segment) {
        return segment.isNative() || segment.heapBase().orElse(null) instanceof byte[];
    }
}
