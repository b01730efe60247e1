package dev.moeshard.tensor.convert;

/**
 * F32 to F8_E4M3 and F8_E5M2, rounding to nearest even in integer arithmetic on the F32 bits.
 *
 * <pre>
 *   F32       s eeeeeeee mmm mmmmmmmmmmmmmmmmmmmm      F8_E4M3 keeps 3 mantissa bits: 20 bits are rounded off
 *   F8_E4M3   s     eeee mmm                           bias 7, s.1111.111 is NaN, largest finite 448 (s.1111.110)
 *
 *   F32       s eeeeeeee mm mmmmmmmmmmmmmmmmmmmmm      F8_E5M2 keeps 2 mantissa bits: 21 bits are rounded off
 *   F8_E5M2   s    eeeee mm                            bias 15, IEEE: s.11111.00 is infinity, largest finite 57344
 * </pre>
 *
 * Where the result is a normal FP8 number the exponent fields line up after re-biasing, so rounding is the
 * add-and-truncate trick of {@link Bf16Converters} with a wider cut, followed by subtracting the difference of the
 * biases in the exponent field. A carry out of the mantissa lands in the exponent, the correct next binade; a carry
 * past the largest finite code is the overflow, settled by the format's rule. Where the result is an FP8 subnormal
 * the exponent no longer lines up, so the value is scaled in a {@code double} (exact, a power of two) and rounded
 * by {@link Math#rint}, which ties to even; a value that rounds up to the smallest normal lands on its code by
 * itself, as the codes are contiguous.
 */
final class Fp8Rounding {
    private static final int F32_MANTISSA_BITS = 23;
    private static final int F32_BIAS = 127;

    private static final int E4M3_MAX_FINITE = 0x7e;
    private static final int E4M3_NAN = 0x7f;
    private static final int E5M2_MAX_FINITE = 0x7b;
    private static final int E5M2_INFINITY = 0x7c;
    private static final int E5M2_NAN = 0x7e;

    private Fp8Rounding() {}

    /** F8_E4M3 nearest to the F32 {@code f32}: a finite value past 448 saturates to ±448, ±infinity becomes NaN. */
    static int e4m3FromF32Bits(int f32) {
        int sign = (f32 >>> 24) & 0x80;
        int magnitude = f32 & F32Bits.MAGNITUDE;
        if (magnitude >= F32Bits.INFINITY) {
            return sign | E4M3_NAN; // NaN stays NaN; infinity has no E4M3 code and must not pass for a number
        }
        int code = roundFinite(magnitude, 3, 7, 0x1p9);
        return sign | Math.min(code, E4M3_MAX_FINITE);
    }

    /** F8_E5M2 nearest to the F32 {@code f32}: past the largest finite value, infinity of the sign (IEEE). */
    static int e5m2FromF32Bits(int f32) {
        int sign = (f32 >>> 24) & 0x80;
        int magnitude = f32 & F32Bits.MAGNITUDE;
        if (magnitude > F32Bits.INFINITY) {
            return sign | E5M2_NAN;
        }
        int code = roundFinite(magnitude, 2, 15, 0x1p16);
        return sign | (code > E5M2_MAX_FINITE ? E5M2_INFINITY : code);
    }

    /**
     * The magnitude code (exponent and mantissa fields) nearest to a finite F32 magnitude, ties to even, for a
     * format of {@code mantissaBits} and {@code bias}, whose smallest subnormal is {@code 1 / stepsPerUnit}; codes past the format's range are returned as they come,
     * for the caller's overflow rule. Infinity's bits come out past every range too, so the IEEE rule makes them
     * infinity again.
     */
    private static int roundFinite(int magnitude, int mantissaBits, int bias, double stepsPerUnit) {
        assert stepsPerUnit == Math.scalb(1.0, bias - 1 + mantissaBits) : stepsPerUnit;
        int smallestNormal = (F32_BIAS - bias + 1) << F32_MANTISSA_BITS;
        if (magnitude >= smallestNormal) {
            int cut = F32_MANTISSA_BITS - mantissaBits;
            int lowestKept = (magnitude >>> cut) & 1;
            int rounded = (magnitude + ((1 << (cut - 1)) - 1) + lowestKept) >>> cut;
            return rounded - ((F32_BIAS - bias) << mantissaBits);
        }
        // Subnormal target: the code counts steps of the smallest subnormal, 2^(1 - bias - mantissaBits); the
        // product with the power of two 1 / step is exact in a double.
        return (int) Math.rint(Float.intBitsToFloat(magnitude) * stepsPerUnit);
    }
}
