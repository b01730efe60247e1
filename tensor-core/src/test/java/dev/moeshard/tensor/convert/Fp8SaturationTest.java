package dev.moeshard.tensor.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.FloatFormat;
import org.junit.jupiter.api.Test;

/**
 * The overflow rules {@link FloatFormat} documents for the two FP8 formats, value by value, from F32, F64, BF16 and
 * F16 sources: F8_E4M3 saturates every finite overflow to ±448 (code 0x7e) and makes ±infinity a NaN (0x7f);
 * F8_E5M2 is IEEE, so past 57344 it rounds to ±infinity (0x7c), and from 61440, halfway to the next step, up.
 */
class Fp8SaturationTest {
    private static final DType[] SOURCES = {DType.F32, DType.F64, DType.BF16, DType.F16};

    @Test
    void e4m3SaturatesFiniteOverflowAndTurnsInfinityIntoNaN() {
        assertFp8(DType.F8_E4M3, 448, 0x7e);
        assertFp8(DType.F8_E4M3, 449, 0x7e);
        assertFp8(DType.F8_E4M3, 464, 0x7e); // halfway to 480: ties to the even 448 anyway
        assertFp8(DType.F8_E4M3, 472, 0x7e); // rounds to 480, which E4M3 cannot hold: saturates
        assertFp8(DType.F8_E4M3, 480, 0x7e);
        assertFp8(DType.F8_E4M3, 512, 0x7e);
        assertFp8(DType.F8_E4M3, 65504, 0x7e);
        assertFp8(DType.F8_E4M3, -65504, 0xfe);
        assertFp8(DType.F8_E4M3, 1e10, 0x7e);
        assertFp8(DType.F8_E4M3, -1e10, 0xfe);
        assertFp8(DType.F8_E4M3, 416, 0x7d); // 1.101 * 2^8, exact
        assertFp8(DType.F8_E4M3, Double.POSITIVE_INFINITY, 0x7f);
        assertFp8(DType.F8_E4M3, Double.NEGATIVE_INFINITY, 0xff);
        assertFp8(DType.F8_E4M3, Double.NaN, 0x7f);
        assertFp8(DType.F8_E4M3, Double.longBitsToDouble(0xfff8_0000_0000_0000L), 0xff); // NaN keeps its sign
        // Beyond F16 and BF16 range but finite for F32 and F64.
        assertFp8From(DType.F32, DType.F8_E4M3, Float.MAX_VALUE, 0x7e);
        assertFp8From(DType.F64, DType.F8_E4M3, 1e300, 0x7e);
        assertFp8From(DType.F64, DType.F8_E4M3, -Double.MAX_VALUE, 0xfe);
        assertEquals(448.0, FloatFormat.require(DType.F8_E4M3).maxFinite());
        assertEquals(0x7f, FloatFormat.require(DType.F8_E4M3).nanBits());
    }

    @Test
    void e5m2OverflowsToInfinity() {
        assertFp8(DType.F8_E5M2, 57344, 0x7b);
        assertFp8(DType.F8_E5M2, 61439.99, 0x7b, DType.F64);
        assertFp8(DType.F8_E5M2, 61440, 0x7c); // halfway to 65536: ties to even, which is infinity
        assertFp8(DType.F8_E5M2, -61440, 0xfc);
        assertFp8(DType.F8_E5M2, 65504, 0x7c);
        assertFp8(DType.F8_E5M2, 1e10, 0x7c);
        assertFp8(DType.F8_E5M2, Double.POSITIVE_INFINITY, 0x7c);
        assertFp8(DType.F8_E5M2, Double.NEGATIVE_INFINITY, 0xfc);
        assertFp8(DType.F8_E5M2, Double.NaN, 0x7e);
        assertFp8From(DType.F32, DType.F8_E5M2, Math.nextDown(61440f), 0x7b);
        assertFp8From(DType.F32, DType.F8_E5M2, Float.MAX_VALUE, 0x7c);
        assertFp8From(DType.F64, DType.F8_E5M2, Math.nextDown(61440.0), 0x7b);
        assertEquals(57344.0, FloatFormat.require(DType.F8_E5M2).maxFinite());
        assertEquals(0x7e, FloatFormat.require(DType.F8_E5M2).nanBits());
    }

    /** {@code value} converted to {@code to} from every source dtype that holds it exactly. */
    private static void assertFp8(DType to, double value, int expected, DType... onlyFrom) {
        for (DType from : onlyFrom.length > 0 ? onlyFrom : SOURCES) {
            FloatFormat source = FloatFormat.require(from);
            long bits = source.encode(value);
            boolean exact = Double.isNaN(value) ? Double.isNaN(source.decode(bits))
                    : Double.compare(source.decode(bits), value) == 0;
            if (exact) {
                assertFp8From(from, to, value, expected);
            }
        }
    }

    private static void assertFp8From(DType from, DType to, double value, int expected) {
        long bits = FloatFormat.require(from).encode(value);
        String what = from + " " + value + " -> " + to;
        assertEquals(expected, FloatFormat.require(to).encode(value), what + " (FloatFormat)");
        long[] in = {bits};
        assertEquals(expected, ConversionRuns.run(Converters.scalar(from, to), from, to, in)[0], what + " (scalar)");
        assertEquals(expected, ConversionRuns.run(Converters.best(from, to), from, to, in)[0], what + " (best)");
    }
}
