package dev.moeshard.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class FloatFormatTest {
    @Test
    void nanDecodesWithItsSignAndEncodesAsTheQuietNaNOfThatSign() {
        record Case(DType dtype, long negativeNaN, long expectedBack) {}
        for (Case c : new Case[] {
                new Case(DType.F32, 0xff80_0001L, 0xffc0_0000L),
                new Case(DType.F16, 0xfc01L, 0xfe00L),
                new Case(DType.BF16, 0xff81L, 0xffc0L),
                new Case(DType.F8_E5M2, 0xfdL, 0xfeL),
                new Case(DType.F8_E4M3, 0xffL, 0xffL)}) {
            FloatFormat f = FloatFormat.require(c.dtype);
            double d = f.decode(c.negativeNaN);
            assertTrue(Double.isNaN(d), c.dtype + " NaN decodes to NaN");
            assertEquals(0xfff8_0000_0000_0000L, Double.doubleToRawLongBits(d), c.dtype + ": negative quiet NaN");
            assertEquals(c.expectedBack, f.encode(d), c.dtype + ": encodes back to the negative quiet NaN");
        }
    }

    @Test
    void f64DropsNaNPayloadsLikeEveryOtherFormat() {
        FloatFormat f64 = FloatFormat.require(DType.F64);
        assertEquals(0x7ff8_0000_0000_0000L, f64.encode(Double.longBitsToDouble(0x7ff0_0000_0000_0001L)));
        assertEquals(0xfff8_0000_0000_0000L, f64.encode(Double.longBitsToDouble(0xfff8_dead_beef_0000L)));
        assertEquals(0x7ff0_0000_0000_0000L, f64.encode(Double.POSITIVE_INFINITY));
        assertEquals(0x8000_0000_0000_0000L, f64.encode(-0.0));
    }

    @Test
    void largestFiniteValues() {
        assertEquals(65504.0, FloatFormat.require(DType.F16).maxFinite());
        assertEquals(Float.MAX_VALUE, FloatFormat.require(DType.F32).maxFinite());
        assertEquals(0x1.fep127, FloatFormat.require(DType.BF16).maxFinite());
        assertEquals(448.0, FloatFormat.require(DType.F8_E4M3).maxFinite());
        assertEquals(57344.0, FloatFormat.require(DType.F8_E5M2).maxFinite());
    }
}
