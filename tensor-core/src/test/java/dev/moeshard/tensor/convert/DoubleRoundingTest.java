package dev.moeshard.tensor.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.FloatFormat;
import org.junit.jupiter.api.Test;

/**
 * F64 to a narrow format rounds once. Going through F32 would round twice and can land wrong: a double just off a
 * BF16 tie rounds, in F32, onto the tie itself, and the second rounding then breaks the tie to even instead of
 * towards the side the double is on.
 */
class DoubleRoundingTest {
    @Test
    void justAboveATieRoundsUpEvenThoughF32WouldLandOnTheTie() {
        double tie = 1 + 0x1p-8; // halfway between BF16 1.0 (0x3f80, even) and 1.0078125 (0x3f81)
        double justAbove = tie + 0x1p-40;
        assertEquals((float) tie, (float) justAbove, "the premise: F32 rounds it onto the tie");
        assertEquals(0x3f80, bf16ViaF32(justAbove), "the premise: via F32 the tie goes to even, down");
        assertBf16(justAbove, 0x3f81);
        assertBf16(-justAbove, 0xbf81);
    }

    @Test
    void justBelowATieRoundsDownEvenThoughF32WouldLandOnTheTie() {
        double tie = 1 + 3 * 0x1p-8; // halfway between 0x3f81 (odd) and 0x3f82 (even)
        double justBelow = tie - 0x1p-40;
        assertEquals(0x3f82, bf16ViaF32(justBelow), "the premise: via F32 the tie goes to even, up");
        assertBf16(justBelow, 0x3f81);
    }

    @Test
    void otherNarrowFormatsRoundOnceToo() {
        // F16: halfway between 1.0 and 1 + 2^-10 is 1 + 2^-11; a hair above must round up.
        assertOnce(DType.F16, 1 + 0x1p-11 + 0x1p-40, 0x3c01);
        // F8_E4M3: halfway between 1.0 and 1.125; F8_E5M2: halfway between 1.0 and 1.25.
        assertOnce(DType.F8_E4M3, 1 + 0x1p-4 + 0x1p-40, 0x39);
        assertOnce(DType.F8_E5M2, 1 + 0x1p-3 + 0x1p-40, 0x3d);
    }

    private static int bf16ViaF32(double d) {
        return Bf16Converters.fromF32Bits(Float.floatToRawIntBits((float) d));
    }

    private static void assertBf16(double d, int expected) {
        assertOnce(DType.BF16, d, expected);
    }

    private static void assertOnce(DType to, double d, int expected) {
        assertEquals(expected, FloatFormat.require(to).encode(d), "FloatFormat F64 " + d + " -> " + to);
        long[] in = {Double.doubleToRawLongBits(d)};
        assertEquals(expected, ConversionRuns.run(Converters.scalar(DType.F64, to), DType.F64, to, in)[0],
                "scalar F64 " + d + " -> " + to);
        assertEquals(expected, ConversionRuns.run(Converters.best(DType.F64, to), DType.F64, to, in)[0],
                "best F64 " + d + " -> " + to);
    }
}
