package dev.moeshard.moe.quant;

/**
 * E8M0, the shared scale of an MX block: eight exponent bits and nothing else, biased by 127, so byte {@code s}
 * stands for 2^(s − 127).
 *
 * <p>F32 cannot hold every such power: 2^(255 − 127) = 2^128 is past its largest finite value, so a product
 * {@code fp4 × 2^(s − 127)} computed as one multiplication would turn a zero element of a block with s = 255 into
 * 0 × ∞ = NaN, where the reference ({@code torch.ldexp}) gives 0. The scale is therefore applied in two exact steps,
 * {@code (fp4 × 2^(s − 128)) × 2}: every 2^(s − 128) for s in [0, 255] is a finite F32 (2^-128 is subnormal but
 * exact), every FP4 value times it is exact (two significant bits, far above F32's 2^-149 granularity), and the final
 * doubling rounds only where the true value overflows, to ±∞ as ldexp does.
 */
public final class E8M0Scale {
    /** The E8M0 bias. */
    public static final int BIAS = 127;

    private E8M0Scale() {}

    /** 2^(s − 128) as an F32, exact, for the unsigned byte {@code s}. */
    public static float halfScale(int s) {
        return Math.scalb(1.0f, (s & 0xFF) - BIAS - 1);
    }

    /** {@code fp4Value × 2^(s − 127)}, rounded once as the reference's ldexp rounds it. */
    public static float apply(float fp4Value, int s) {
        return fp4Value * halfScale(s) * 2.0f;
    }
}
