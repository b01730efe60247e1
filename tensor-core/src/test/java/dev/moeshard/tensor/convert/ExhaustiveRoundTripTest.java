package dev.moeshard.tensor.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.FloatFormat;
import dev.moeshard.tensor.simd.VectorSupport;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every bit pattern of each narrow format goes to F32 and back: F32 holds all of them exactly, so the trip must be
 * the identity, except that a NaN comes back as the format's canonical quiet NaN with its sign. The widening half
 * must also equal the generic {@link FloatFormat} result, pattern by pattern.
 */
class ExhaustiveRoundTripTest {
    private static final String NARROW = "BF16|F16|F8_E4M3|F8_E5M2";

    @ParameterizedTest
    @EnumSource(value = DType.class, names = NARROW, mode = EnumSource.Mode.MATCH_ANY)
    void floatFormatRoundTripsThroughF32(DType dtype) {
        FloatFormat narrow = FloatFormat.require(dtype);
        FloatFormat f32 = FloatFormat.require(DType.F32);
        long[] all = ConversionRuns.allPatterns(dtype);
        long[] wide = new long[all.length];
        long[] back = new long[all.length];
        for (int p = 0; p < all.length; p++) {
            wide[p] = f32.encode(narrow.decode(p));
            back[p] = narrow.encode(f32.decode(wide[p]));
        }
        assertRoundTrip(dtype, all, wide, back, "FloatFormat");
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = NARROW, mode = EnumSource.Mode.MATCH_ANY)
    void scalarConvertersRoundTripThroughF32(DType dtype) {
        roundTrip(dtype, Converters.scalar(dtype, DType.F32), Converters.scalar(DType.F32, dtype), "scalar");
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = NARROW, mode = EnumSource.Mode.MATCH_ANY)
    void simdConvertersRoundTripThroughF32(DType dtype) {
        Assumptions.assumeTrue(VectorSupport.enabled(), () -> "SIMD is off here: " + VectorSupport.reason());
        ElementConverter widen = Converters.simd(dtype, DType.F32)
                .orElseThrow(() -> new AssertionError("no SIMD converter " + dtype + " -> F32"));
        // F32 to FP8 has no vector kernel; best() is then the scalar one, which is what runs in practice.
        roundTrip(dtype, widen, Converters.best(DType.F32, dtype), "SIMD");
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = "F8_E4M3|F8_E5M2", mode = EnumSource.Mode.MATCH_ANY)
    void fp8ToBf16MatchesGenericForEveryCode(DType dtype) {
        long[] all = ConversionRuns.allPatterns(dtype);
        long[] expected = ConversionRuns.generic(dtype, DType.BF16, all);
        assertSame(dtype, DType.BF16, all, expected,
                ConversionRuns.run(Converters.scalar(dtype, DType.BF16), dtype, DType.BF16, all), "scalar");
        if (VectorSupport.enabled()) {
            ElementConverter simd = Converters.simd(dtype, DType.BF16)
                    .orElseThrow(() -> new AssertionError("no SIMD converter " + dtype + " -> BF16"));
            assertSame(dtype, DType.BF16, all, expected,
                    ConversionRuns.run(simd, dtype, DType.BF16, all), "SIMD");
        }
    }

    private static void roundTrip(DType dtype, ElementConverter widen, ElementConverter narrow, String which) {
        long[] all = ConversionRuns.allPatterns(dtype);
        long[] wide = ConversionRuns.run(widen, dtype, DType.F32, all);
        long[] back = ConversionRuns.run(narrow, DType.F32, dtype, wide);
        assertSame(dtype, DType.F32, all, ConversionRuns.generic(dtype, DType.F32, all), wide, which);
        assertRoundTrip(dtype, all, wide, back, which);
    }

    private static void assertRoundTrip(DType dtype, long[] all, long[] wide, long[] back, String which) {
        FloatFormat narrow = FloatFormat.require(dtype);
        long signBit = 1L << (dtype.bits() - 1);
        for (int p = 0; p < all.length; p++) {
            boolean nan = Double.isNaN(narrow.decode(p));
            long expected = nan ? (p & signBit) | narrow.nanBits() : p;
            if (back[p] != expected) {
                fail(which + " " + dtype + " -> F32 -> " + dtype + " of " + ConversionRuns.hex(dtype, p) + " went via "
                        + ConversionRuns.hex(DType.F32, wide[p]) + " to " + ConversionRuns.hex(dtype, back[p])
                        + ", expected " + ConversionRuns.hex(dtype, expected));
            }
            if (nan) {
                int f = (int) wide[p];
                assertEquals(p & signBit, (f >>> 31) == 1 ? signBit : 0, "sign of NaN " + ConversionRuns.hex(dtype, p));
                assertEquals(0x7fc0_0000, f & 0x7fff_ffff, "F32 canonical quiet NaN for " + ConversionRuns.hex(dtype, p));
            }
        }
    }

    static void assertSame(DType from, DType to, long[] input, long[] expected, long[] actual, String which) {
        for (int i = 0; i < input.length; i++) {
            if (expected[i] != actual[i]) {
                fail(which + " " + from + " -> " + to + " of " + ConversionRuns.hex(from, input[i]) + " gave "
                        + ConversionRuns.hex(to, actual[i]) + ", FloatFormat gives " + ConversionRuns.hex(to, expected[i]));
            }
        }
    }
}
