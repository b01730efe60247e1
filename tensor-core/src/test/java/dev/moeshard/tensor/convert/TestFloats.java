package dev.moeshard.tensor.convert;

import java.util.Random;

/**
 * Inputs for the rounding tests: random values from a fixed seed, weighted towards the ranges where narrow formats
 * round, overflow and underflow, plus the values every conversion must get right.
 */
final class TestFloats {
    private TestFloats() {}

    /** {@code n} random floats: a third uniform over all bit patterns, the rest with exponents near 2^0. */
    static float[] randomFloats(long seed, int n) {
        Random random = new Random(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            int bits = random.nextInt();
            if (i % 3 != 0) {
                // exponent field 80..175: 2^-47 .. 2^48, covering every FP8, F16 and much of BF16's range
                int exponent = 80 + random.nextInt(96);
                bits = (bits & 0x807f_ffff) | (exponent << 23);
            }
            if (i % 5 == 0) {
                // low bits at or next to the rounding boundary of some format (ties, ties +- 1)
                int cut = new int[] {13, 16, 20, 21}[random.nextInt(4)];
                int low = (1 << (cut - 1)) + random.nextInt(3) - 1;
                bits = (bits & -(1 << cut)) | low;
            }
            out[i] = Float.intBitsToFloat(bits);
        }
        return out;
    }

    /** {@code n} random doubles, built like {@link #randomFloats} with exponents near 2^0. */
    static double[] randomDoubles(long seed, int n) {
        Random random = new Random(seed);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            long bits = random.nextLong();
            if (i % 3 != 0) {
                long exponent = 1023 - 160 + random.nextInt(320); // 2^-160 .. 2^160
                bits = (bits & 0x800f_ffff_ffff_ffffL) | (exponent << 52);
            }
            out[i] = Double.longBitsToDouble(bits);
        }
        return out;
    }

    /** Zeros, infinities, NaNs (quiet, signalling, with payloads, both signs), extremes of F32 and F64. */
    static float[] specialFloats() {
        return new float[] {
            0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, -Float.NaN,
            Float.intBitsToFloat(0x7f80_0001), Float.intBitsToFloat(0xff80_0001), Float.intBitsToFloat(0x7fff_ffff),
            Float.intBitsToFloat(0xffc0_0000), Float.intBitsToFloat(0x7fa0_1234),
            Float.MAX_VALUE, -Float.MAX_VALUE, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL,
            Math.nextDown(Float.MIN_NORMAL), 1f, -1f, 65504f, 65520f, 448f, 464f, 57344f, 61440f,
        };
    }

    static double[] specialDoubles() {
        return new double[] {
            0d, -0d, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, Double.NaN,
            Double.longBitsToDouble(0xfff8_0000_0000_0000L), Double.longBitsToDouble(0x7ff0_0000_0000_0001L),
            Double.longBitsToDouble(0xfff0_0000_dead_beefL),
            Double.MAX_VALUE, -Double.MAX_VALUE, Double.MIN_VALUE, Double.MIN_NORMAL,
            Float.MAX_VALUE, Math.nextUp((double) Float.MAX_VALUE), 0x1.ffffffp127, 0x1.fffffefffffffp127,
            Float.MIN_VALUE, Float.MIN_VALUE / 2, Math.nextUp(Float.MIN_VALUE / 2d), 1e300, -1e-300,
        };
    }
}
