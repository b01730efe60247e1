package dev.moeshard.tensor.convert;

/**
 * The F32 bit patterns that every converter here works through: F32 holds each F16, BF16 and FP8 value exactly, so
 * converting through F32 bits widens without loss and rounds once, on the way out.
 *
 * <pre>
 *   bit  31  30 ........ 23  22 .................. 0
 *        s   e e e e e e e e  m m m m ... (23 bits)      value = (-1)^s * 1.m * 2^(e-127), e = 0: 0.m * 2^-126
 * </pre>
 */
final class F32Bits {
    static final int SIGN = 0x8000_0000;
    static final int MAGNITUDE = 0x7fff_ffff;
    /** +infinity; any magnitude above it is a NaN. */
    static final int INFINITY = 0x7f80_0000;
    /** The canonical quiet NaN, positive: every NaN leaves a converter as this, with its own sign. */
    static final int QUIET_NAN = 0x7fc0_0000;

    private F32Bits() {}

    static boolean isNaN(int bits) {
        return (bits & MAGNITUDE) > INFINITY;
    }

    /** The canonical quiet NaN with the sign of {@code bits}. */
    static int quietNaN(int bits) {
        return (bits & SIGN) | QUIET_NAN;
    }
}
