package dev.moeshard.tensor.convert;

import dev.moeshard.tensor.ElementAccess;

/**
 * BF16 to and from F32 by bit manipulation. A BF16 is the top half of an F32:
 *
 * <pre>
 *   F32    s eeeeeeee mmmmmmm | mmmmmmmmmmmmmmmm
 *   BF16   s eeeeeeee mmmmmmm |                     (the low 16 bits are dropped, rounding to nearest even)
 * </pre>
 *
 * Widening is a shift. Narrowing adds {@code 0x7fff} plus the lowest kept bit before truncating: below the halfway
 * point the carry never reaches the kept bits, above it always does, and at exactly halfway it does only when the
 * kept part is odd, so ties go to even. A carry out of the mantissa moves into the exponent, which is the correct
 * next binade, and out of the largest finite value into {@code 0x7f80}, which is infinity, as IEEE asks.
 */
final class Bf16Converters {
    private Bf16Converters() {}

    /** F32 bits of the BF16 {@code bf16} (low 16 bits); NaN becomes the canonical quiet NaN of its sign. */
    static int toF32Bits(int bf16) {
        int bits = bf16 << 16;
        return F32Bits.isNaN(bits) ? F32Bits.quietNaN(bits) : bits;
    }

    /** The BF16 nearest to the F32 {@code f32}, ties to even, in the low 16 bits. */
    static int fromF32Bits(int f32) {
        if (F32Bits.isNaN(f32)) {
            return (F32Bits.quietNaN(f32) >>> 16);
        }
        int lowestKept = (f32 >>> 16) & 1;
        return (f32 + 0x7fff + lowestKept) >>> 16;
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
