package dev.moeshard.tensor.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.simd.VectorSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The SIMD converters give, byte for byte, what the scalar ones give: on random bit patterns (NaNs included), runs of
 * odd lengths, unaligned offsets, strided runs (which they hand to the scalar code), native and heap segments, and
 * structured sweeps of F32 inputs around every rounding boundary of the narrowing kernels.
 */
class SimdMatchesScalarTest {
    private static final int[] LENGTHS = {0, 1, 7, 33, 1000 + 3};
    private static final long[][] OFFSETS = {{0, 0}, {1, 3}, {6, 2}, {5, 7}}; // {source, destination} bytes

    static Stream<Arguments> simdPairs() {
        return Stream.of(
                Arguments.of(DType.BF16, DType.F32), Arguments.of(DType.F32, DType.BF16),
                Arguments.of(DType.F16, DType.F32), Arguments.of(DType.F32, DType.F16),
                Arguments.of(DType.F8_E4M3, DType.F32), Arguments.of(DType.F8_E5M2, DType.F32),
                Arguments.of(DType.F8_E4M3, DType.BF16), Arguments.of(DType.F8_E5M2, DType.BF16));
    }

    @BeforeEach
    void requireSimd() {
        Assumptions.assumeTrue(VectorSupport.enabled(), () -> "SIMD is off here: " + VectorSupport.reason());
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("simdPairs")
    void contiguousRunsOfOddLengthsAtOddOffsets(DType from, DType to) {
        ElementConverter simd = simd(from, to);
        ElementConverter scalar = Converters.scalar(from, to);
        Random random = new Random(from.ordinal() * 31L + to.ordinal());
        int in = from.byteSize();
        int out = to.byteSize();
        for (int length : LENGTHS) {
            for (long[] offset : OFFSETS) {
                for (boolean nativeMemory : new boolean[] {false, true}) {
                    byte[] source = new byte[(int) offset[0] + length * in + 16];
                    random.nextBytes(source);
                    byte[] fill = new byte[(int) offset[1] + length * out + 16];
                    random.nextBytes(fill);
                    byte[] expected = convert(scalar, source, fill, offset, in, out, length, nativeMemory);
                    byte[] actual = convert(simd, source, fill, offset, in, out, length, nativeMemory);
                    assertArrayEquals(expected, actual, from + " -> " + to + ", " + length + " elements at offsets "
                            + offset[0] + "/" + offset[1] + (nativeMemory ? ", native" : ", heap"));
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("simdPairs")
    void stridedRunsAndNonByteHeapSegmentsFallBackToScalar(DType from, DType to) {
        ElementConverter simd = simd(from, to);
        ElementConverter scalar = Converters.scalar(from, to);
        Random random = new Random(99);
        int in = from.byteSize();
        int out = to.byteSize();
        int n = 257;
        byte[] source = new byte[3 * n * in];
        random.nextBytes(source);
        // Strided on one side, then the other.
        for (long[] strides : new long[][] {{2L * in, out}, {in, 3L * out}, {3L * in, 2L * out}}) {
            MemorySegment src = MemorySegment.ofArray(source);
            MemorySegment a = MemorySegment.ofArray(new byte[(int) strides[1] * n]);
            MemorySegment b = MemorySegment.ofArray(new byte[(int) strides[1] * n]);
            scalar.convert(src, 0, strides[0], a, 0, strides[1], n);
            simd.convert(src, 0, strides[0], b, 0, strides[1], n);
            assertArrayEquals(a.toArray(ValueLayout.JAVA_BYTE),
                    b.toArray(ValueLayout.JAVA_BYTE), "strides " + strides[0] + "/" + strides[1]);
        }
        // A heap segment over a long[]: the Vector API cannot address it, the scalar path must.
        long[] backing = new long[(n * in + 7) / 8];
        MemorySegment src = MemorySegment.ofArray(backing);
        MemorySegment.copy(MemorySegment.ofArray(source), 0, src, 0, (long) n * in);
        MemorySegment a = MemorySegment.ofArray(new long[(n * out + 7) / 8]);
        MemorySegment b = MemorySegment.ofArray(new long[(n * out + 7) / 8]);
        scalar.convert(src, 0, in, a, 0, out, n);
        simd.convert(src, 0, in, b, 0, out, n);
        assertTrue(a.mismatch(b) == -1, "heap long[] segments differ");
    }

    @Test
    void f32ToBf16AroundEveryRoundingBoundary() {
        // Every exponent, both signs, each of the 128 kept mantissas, and the dropped low half at the cases
        // that decide the rounding: 0, 1, tie - 1, tie, tie + 1, all ones.
        int[] lows = {0, 1, 0x7fff, 0x8000, 0x8001, 0xffff};
        int[] bits = new int[2 * 256 * 128 * lows.length];
        int n = 0;
        for (int sign = 0; sign < 2; sign++) {
            for (int exponent = 0; exponent < 256; exponent++) {
                for (int kept = 0; kept < 128; kept++) {
                    for (int low : lows) {
                        bits[n++] = (sign << 31) | (exponent << 23) | (kept << 16) | low;
                    }
                }
            }
        }
        assertSameAsScalar(DType.F32, DType.BF16, bits);
    }

    @Test
    void f32ToF16AroundEveryRoundingBoundary() {
        // Exponents from far below F16's subnormals to past its range, each of the 1024 kept mantissas, the 13
        // dropped bits at the deciding cases; plus the specials.
        int[] lows = {0, 1, 0xfff, 0x1000, 0x1001, 0x1fff};
        int[] bits = new int[2 * 60 * 1024 * lows.length + 8];
        int n = 0;
        for (int sign = 0; sign < 2; sign++) {
            for (int exponent = 127 - 40; exponent < 127 - 40 + 60; exponent++) {
                for (int kept = 0; kept < 1024; kept++) {
                    for (int low : lows) {
                        bits[n++] = (sign << 31) | (exponent << 23) | (kept << 13) | low;
                    }
                }
            }
        }
        for (int special : new int[] {0x7f80_0000, 0xff80_0000, 0x7f80_0001, 0xffc0_0000, 0x7fff_ffff, 0x7f7f_ffff,
                0, 0x8000_0000}) {
            bits[n++] = special;
        }
        assertSameAsScalar(DType.F32, DType.F16, bits);
    }

    @Test
    void everyPairThatShouldHaveAKernelHasOne() {
        for (Arguments pair : simdPairs().toList()) {
            simd((DType) pair.get()[0], (DType) pair.get()[1]);
        }
    }

    private static void assertSameAsScalar(DType from, DType to, int[] f32Bits) {
        long[] input = new long[f32Bits.length];
        for (int i = 0; i < input.length; i++) {
            input[i] = Integer.toUnsignedLong(f32Bits[i]);
        }
        long[] expected = ConversionRuns.run(Converters.scalar(from, to), from, to, input);
        long[] actual = ConversionRuns.run(simd(from, to), from, to, input);
        ExhaustiveRoundTripTest.assertSame(from, to, input, expected, actual, "SIMD vs scalar");
    }

    private static ElementConverter simd(DType from, DType to) {
        return Converters.simd(from, to).orElseThrow(() -> new AssertionError("no SIMD converter " + from + " -> "
                + to + " although SIMD is on (" + VectorSupport.reason() + ")"));
    }

    private static byte[] convert(ElementConverter converter, byte[] source, byte[] fill, long[] offset,
                                  int in, int out, int length, boolean nativeMemory) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src;
            MemorySegment dst;
            if (nativeMemory) {
                src = arena.allocate(source.length);
                src.copyFrom(MemorySegment.ofArray(source));
                dst = arena.allocate(fill.length);
                dst.copyFrom(MemorySegment.ofArray(fill));
            } else {
                src = MemorySegment.ofArray(source.clone());
                dst = MemorySegment.ofArray(fill.clone());
            }
            converter.convert(src, offset[0], in, dst, offset[1], out, length);
            return dst.toArray(ValueLayout.JAVA_BYTE);
        }
    }
}
