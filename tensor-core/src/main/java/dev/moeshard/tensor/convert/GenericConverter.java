package dev.moeshard.tensor.convert;

import dev.moeshard.tensor.ElementAccess;
import dev.moeshard.tensor.FloatFormat;
import java.lang.foreign.MemorySegment;

/**
 * Any arithmetic dtype to any other, element by element through {@link FloatFormat}: exact decoding to a
 * {@code double}, then one rounding to the target. Slow but the definition of right: every specialised converter
 * must give exactly its result. Used for the pairs no specialised loop covers (e.g. F64 to BF16, which must not pass
 * through F32 and round twice).
 */
final class GenericConverter implements ElementConverter {
    private final FloatFormat source;
    private final FloatFormat target;
    private final int inWidth;
    private final int outWidth;

    GenericConverter(FloatFormat source, FloatFormat target) {
        this.source = source;
        this.target = target;
        this.inWidth = source.dtype().byteSize();
        this.outWidth = target.dtype().byteSize();
    }

    @Override
    public void convert(MemorySegment src, long srcOffset, long srcStride,
                        MemorySegment dst, long dstOffset, long dstStride, long count) {
        for (long i = 0; i < count; i++) {
            double value = source.decode(ElementAccess.readBits(src, srcOffset + i * srcStride, inWidth));
            ElementAccess.writeBits(dst, dstOffset + i * dstStride, outWidth, target.encode(value));
        }
    }
}
