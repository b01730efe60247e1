package dev.moeshard.tensor.convert;

import dev.moeshard.tensor.ElementAccess;

/**
 * F16 to and from F32 through {@link Float#float16ToFloat} and {@link Float#floatToFloat16}: both are exact (the
 * narrowing one rounds to nearest even, overflowing to infinity) and HotSpot compiles them to single instructions
 * where the CPU has them. Only NaN needs care: those methods keep payload bits, while every converter here turns a
 * NaN into the canonical quiet NaN of its sign, as {@link dev.moeshard.tensor.FloatFormat} does.
 *
 * <pre>
 *   F16   s eeeee mmmmmmmmmm            bias 15, exponent 11111 = infinity (m = 0) or NaN
 * </pre>
 */
final class F16Converters {
    static final int SIGN = 0x8000;
    static final int MAGNITUDE = 0x7fff;
    static final int INFINITY = 0x7c00;
    static final int QUIET_NAN = 0x7e00;

    private F16Converters() {}

    /** F32 bits of the F16 {@code f16} (low 16 bits). */
    static int toF32Bits(int f16) {
        if ((f16 & MAGNITUDE) > INFINITY) {
            return F32Bits.quietNaN(f16 << 16);
        }
        return Float.floatToRawIntBits(Float.float16ToFloat((short) f16));
    }

    /** The F16 nearest to the F32 {@code f32}, ties to even, in the low 16 bits. */
    static int fromF32Bits(int f32) {
        if (F32Bits.isNaN(f32)) {
            return ((f32 >>> 16) & SIGN) | QUIET_NAN;
        }
        return Float.floatToFloat16(Float.intBitsToFloat(f32)) & 0xffff;
    }

    static ElementConverter toF32() {
        return (src, srcOffset, srcStride, dst, dstOffset, dstStride, count) -> {
            for (long i = 0; i < count; i++) {
                short h = src.get(ElementAccess.SHORT, srcOffset + i * srcStride);
                dst.set(ElementAccess.INT, dstOffset + i * dstStride, toF32Bits(h));
            }
        };
    }

    static ElementConverter fromF32() {
        return (src, srcOffset, srcStride, dst, dstOffset, dstStride, count) -> {
            for (long i = 0; i < count; i++) {
                int f = src.get(ElementAccess.INT, srcOffset + i * srcStride);
                dst.set(ElementAccess.SHORT, dstOffset + i * dstStride, (short) fromF32Bits(f));
            }
        };
    }
}
