package dev.moeshard.moe.quant;

/**
 * FP4 E2M1, the element format of MXFP4: one sign bit, two exponent bits (bias 1), one mantissa bit. Sixteen codes,
 * no infinity, no NaN:
 * <pre>
 *   code  s ee m     value              code  s ee m     value
 *   0x0   0 00 0     +0                 0x8   1 00 0     -0
 *   0x1   0 00 1     +0.5 (subnormal)   0x9   1 00 1     -0.5
 *   0x2   0 01 0     +1                 0xA   1 01 0     -1
 *   0x3   0 01 1     +1.5               0xB   1 01 1     -1.5
 *   0x4   0 10 0     +2                 0xC   1 10 0     -2
 *   0x5   0 10 1     +3                 0xD   1 10 1     -3
 *   0x6   0 11 0     +4                 0xE   1 11 0     -4
 *   0x7   0 11 1     +6                 0xF   1 11 1     -6
 * </pre>
 * As F32 bits, a normal code (ee ≠ 00) is the sign moved to bit 31, the exponent re-biased to F32's 127 and the
 * mantissa bit placed at the top of F32's mantissa:
 * <pre>
 *   s ee m  →  s | (ee + 126) << 23 | m << 22      i.e. ((code & 7) << 22) + (126 << 23), sign or-ed in
 * </pre>
 * Codes 0 and 1 (ee = 00) are zero and the subnormal 0.5, which the formula gets wrong and which are set apart.
 */
public final class Fp4E2M1 {
    /** F32 bits of 0.5, the one subnormal magnitude. */
    static final int HALF_BITS = 0x3F00_0000;
    /** Added to {@code (code & 7) << 22} to re-bias a normal exponent from 1 to 127. */
    static final int REBIAS = 126 << 23;

    private Fp4E2M1() {}

    /** The F32 bits of FP4 code {@code code} (its low four bits). */
    public static int f32Bits(int code) {
        int magnitude = code & 7;
        int sign = (code & 8) << 28;
        if (magnitude == 0) {
            return sign;
        }
        if (magnitude == 1) {
            return sign | HALF_BITS;
        }
        return sign | ((magnitude << 22) + REBIAS);
    }

    /** The value of FP4 code {@code code}. */
    public static float value(int code) {
        return Float.intBitsToFloat(f32Bits(code));
    }
}
