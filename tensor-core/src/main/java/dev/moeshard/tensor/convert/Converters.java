package dev.moeshard.tensor.convert;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.ElementAccess;
import dev.moeshard.tensor.FloatFormat;

/** Picks the converter for a pair of arithmetic dtypes. */
public final class Converters {
    private Converters() {}

    /** The scalar converter from {@code from} to {@code to}: exact, works everywhere. */
    public static ElementConverter scalar(DType from, DType to) {
        FloatFormat source = FloatFormat.require(from);
        FloatFormat target = FloatFormat.require(to);
        int inWidth = from.byteSize();
        int outWidth = to.byteSize();
        return (src, srcOffset, srcStride, dst, dstOffset, dstStride, count) -> {
            for (long i = 0; i < count; i++) {
                double v = source.decode(ElementAccess.readBits(src, srcOffset + i * srcStride, inWidth));
                ElementAccess.writeBits(dst, dstOffset + i * dstStride, outWidth, target.encode(v));
            }
        };
    }

    /** The fastest converter available on this JVM. */
    public static ElementConverter best(DType from, DType to) {
        return scalar(from, to);
    }
}
