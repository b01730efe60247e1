package dev.moeshard.tensor.convert;

import dev.moeshard.tensor.ElementAccess;

/**
 * F64 to and from F32 by Java's own casts: {@code (float) d} rounds to nearest even (subnormals and overflow to
 * infinity included) and {@code (double) f} is exact. NaN is handled apart because the casts keep payload bits.
 */
final class F64Converters {
    private static final long F64_SIGN = 0x8000_0000_0000_0000L;
    private static final long F64_QUIET_NAN = 0x7ff8_0000_0000_0000L;

    private F64Converters() {}

    static int toF32Bits(double d) {
        if (Double.isNaN(d)) {
            return F32Bits.quietNaN((int) (Double.doubleToRawLongBits(d) >>> 32));
        }
        return Float.floatToRawIntBits((float) d);
    }

    static long fromF32Bits(int f32) {
        if (F32Bits.isNaN(f32)) {
            return (((long) f32 << 32) & F64_SIGN) | F64_QUIET_NAN;
        }
        return Double.doubleToRawLongBits(Float.intBitsToFloat(f32));
    }

    static ElementConverter toF32() {
        return (src, srcOffset, srcStride, dst, dstOffset, dstStride, count) -> {
            for (long i = 0; i < count; i++) {
                double d = src.get(ElementAccess.DOUBLE, srcOffset + i * srcStride);
                dst.set(ElementAccess.INT, dstOffset + i * dstStride, toF32Bits(d));
            }
        };
    }

    static ElementConverter fromF32() {
        return (src, srcOffset, srcStride, dst, dstOffset, dstStride, count) -> {
            for (long i = 0; i < count; i++) {
                int f = src.get(ElementAccess.INT, srcOffset + i * srcStride);
                dst.set(ElementAccess.LONG, dstOffset + i * dstStride, fromF32Bits(f));
            }
        };
    }
}
