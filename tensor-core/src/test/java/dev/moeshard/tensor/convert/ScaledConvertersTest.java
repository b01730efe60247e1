package dev.moeshard.tensor.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.ElementAccess;
import dev.moeshard.tensor.FloatFormat;
import dev.moeshard.tensor.simd.VectorSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The scaled converters give, byte for byte, what {@link FloatFormat} gives for {@code encode(float(decode(x)) *
 * scale)}: the scalar one always, the SIMD one where the Vector API is on. Every FP8 code meets scales that overflow
 * BF16, F16 and F32, push results into the targets' subnormals or to zero, and are zero, infinite or NaN; runs have
 * odd lengths at odd offsets, in native memory and on the heap.
 *
 * <p>A NaN code times a NaN scale has no single answer in hardware (a float multiplication keeps one operand's NaN,
 * and the JIT may order them either way); the converters settle it as the canonical NaN with the code's sign.
 */
class ScaledConvertersTest {
    private static final int[] LENGTHS = {0, 1, 15, 16, 17, 33, 128, 256 + 7, 1000 + 3};
    private static final long[][] OFFSETS = {{0, 0}, {1, 3}, {5, 2}, {7, 6}}; // {source, destination} bytes

    static final float[] SCALES = {
            1f, -1f, 0.5f, 3f, 1f / 3f, 7.1e-4f, 1.3e-3f, -2.75f, 448f, 57344f,
            // Overflow: past F16's 65504, past BF16's largest finite (the F32 product rounds to BF16 infinity),
            // past F32 itself.
            200f, 1e4f, Float.MAX_VALUE / 448f, 7.59e35f, 1e36f, 1e38f, Float.MAX_VALUE,
            // Small results: F16 subnormals and zeros, F32 subnormals (BF16 keeps them), ties at F16's smallest step.
            0x1p-10f, 0x1p-14f, 0x1p-16f, 0x1p-20f, 0x1.8p-24f, 1e-30f, 0x1p-120f, 0x1p-130f, 1e-40f,
            Float.MIN_VALUE, Float.MIN_NORMAL,
            0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN,
            Float.intBitsToFloat(0xffc0_0000), Float.intBitsToFloat(0x7f80_0001), // a negative and a signalling NaN
    };

    static Stream<Arguments> pairs() {
        List<Arguments> pairs = new ArrayList<>();
        for (DType from : new DType[] {DType.F8_E4M3, DType.F8_E5M2}) {
            for (DType to : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                pairs.add(Arguments.of(from, to));
            }
        }
        return pairs.stream();
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("pairs")
    void scalarMatchesFloatFormatOnEveryCodeAndScale(DType from, DType to) {
        everyCodeAndScale(Converters.scaledScalar(from, to), from, to);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("pairs")
    void simdMatchesFloatFormatOnEveryCodeAndScale(DType from, DType to) {
        everyCodeAndScale(simd(from, to), from, to);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("pairs")
    void bestMatchesFloatFormatOnOddRunsAtOddOffsets(DType from, DType to) {
        ScaledConverter best = Converters.scaledBest(from, to);
        ScaledConverter scalar = Converters.scaledScalar(from, to);
        Random random = new Random(from.ordinal() * 31L + to.ordinal());
        int out = to.byteSize();
        for (int length : LENGTHS) {
            for (long[] offset : OFFSETS) {
                for (boolean nativeMemory : new boolean[] {false, true}) {
                    float scale = SCALES[random.nextInt(SCALES.length)];
                    byte[] source = new byte[(int) offset[0] + length + 16];
                    random.nextBytes(source);
                    byte[] fill = new byte[(int) offset[1] + length * out + 16];
                    random.nextBytes(fill);
                    String where = from + " -> " + to + " x " + scale + ", " + length + " elements at offsets "
                            + offset[0] + "/" + offset[1] + (nativeMemory ? ", native" : ", heap");
                    for (ScaledConverter converter : new ScaledConverter[] {scalar, best}) {
                        byte[] got = run(converter, source, fill, offset, length, scale, nativeMemory);
                        assertRun(from, to, source, fill, offset, length, scale, got, where);
                    }
                }
            }
        }
    }

    /**
     * The same checks once C2 has compiled the kernels: the Vector API's intrinsics, not its Java fallback, then do
     * the arithmetic, and a difference between the two (a NaN's sign, a rounding) shows only here.
     */
    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("pairs")
    void bestMatchesFloatFormatOnceCompiled(DType from, DType to) {
        ScaledConverter best = Converters.scaledBest(from, to);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(256);
            MemorySegment dst = arena.allocate(256 * 4);
            for (int i = 0; i < 20_000; i++) {
                best.convert(src, 0, dst, 0, 256, SCALES[i % SCALES.length]);
            }
        }
        everyCodeAndScale(best, from, to);
    }

    @Test
    void heapSegmentsTheVectorApiCannotAddressFallBackToScalar() {
        DType from = DType.F8_E4M3;
        DType to = DType.BF16;
        int n = 301;
        long[] backing = new long[(n + 7) / 8];
        MemorySegment src = MemorySegment.ofArray(backing);
        for (int i = 0; i < n; i++) {
            src.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 37));
        }
        MemorySegment a = MemorySegment.ofArray(new long[(2 * n + 7) / 8]);
        MemorySegment b = MemorySegment.ofArray(new long[(2 * n + 7) / 8]);
        Converters.scaledScalar(from, to).convert(src, 0, a, 0, n, 0.37f);
        Converters.scaledBest(from, to).convert(src, 0, b, 0, n, 0.37f);
        assertEquals(-1, a.mismatch(b), "heap long[] segments differ");
    }

    @Test
    void onlyFp8ToF32Bf16AndF16HaveAScaledConverter() {
        assertTrue(Converters.hasScaled(DType.F8_E5M2, DType.F16));
        for (DType[] pair : new DType[][] {{DType.F8_E4M3, DType.F64}, {DType.F8_E4M3, DType.F8_E5M2},
                {DType.BF16, DType.F32}, {DType.F8_E4M3FNUZ, DType.BF16}, {DType.U8, DType.F32}}) {
            assertTrue(!Converters.hasScaled(pair[0], pair[1]), pair[0] + " -> " + pair[1]);
            assertThrows(UnsupportedOperationException.class, () -> Converters.scaledBest(pair[0], pair[1]));
        }
    }

    /** All 256 codes, in a run of 256 + 5 at offsets 3/1 (so vectors and tail both see every code), per scale. */
    private static void everyCodeAndScale(ScaledConverter converter, DType from, DType to) {
        int length = 256 + 5;
        long[] offset = {3, 1};
        byte[] source = new byte[(int) offset[0] + length];
        for (int i = 0; i < length; i++) {
            source[(int) offset[0] + i] = (byte) (i * 7 + 11); // 7 is odd: i*7 covers all 256 codes
        }
        byte[] fill = new byte[(int) offset[1] + length * to.byteSize() + 4];
        for (float scale : SCALES) {
            for (boolean nativeMemory : new boolean[] {false, true}) {
                byte[] got = run(converter, source, fill, offset, length, scale, nativeMemory);
                assertRun(from, to, source, fill, offset, length, scale, got,
                        from + " -> " + to + " x " + scale + (nativeMemory ? ", native" : ", heap"));
            }
        }
    }

    private static void assertRun(DType from, DType to, byte[] source, byte[] fill, long[] offset, int length,
                                  float scale, byte[] got, String where) {
        MemorySegment out = MemorySegment.ofArray(got);
        int width = to.byteSize();
        for (int i = 0; i < (int) offset[1]; i++) {
            assertEquals(fill[i], got[i], where + ": byte " + i + " before the run was written");
        }
        for (int i = (int) offset[1] + length * width; i < got.length; i++) {
            assertEquals(fill[i], got[i], where + ": byte " + i + " after the run was written");
        }
        FloatFormat target = FloatFormat.require(to);
        for (int i = 0; i < length; i++) {
            int code = source[(int) offset[0] + i] & 0xff;
            long actual = ElementAccess.readBits(out, offset[1] + (long) i * width, width);
            float w = (float) FloatFormat.require(from).decode(code);
            if (Float.isNaN(w) && Float.isNaN(scale)) {
                long nan = target.nanBits() | (Float.floatToRawIntBits(w) < 0 ? 1L << (8 * width - 1) : 0);
                if (actual != nan) {
                    fail(where + ": code 0x" + Integer.toHexString(code) + " gave 0x" + Long.toHexString(actual)
                            + ", not the canonical NaN with the code's sign, 0x" + Long.toHexString(nan));
                }
                continue;
            }
            long expected = target.encode(w * scale);
            if (actual != expected) {
                fail(where + ": code 0x" + Integer.toHexString(code) + " (" + w + ") x " + scale + " = " + (w * scale)
                        + ": expected 0x" + Long.toHexString(expected) + ", got 0x" + Long.toHexString(actual)
                        + " at element " + i);
            }
        }
    }

    private static ScaledConverter simd(DType from, DType to) {
        if (!VectorSupport.enabled()) {
            return Converters.scaledScalar(from, to); // the scalar test then runs twice; SIMD is off here
        }
        return Converters.scaledSimd(from, to).orElseThrow(() -> new AssertionError("no SIMD scaled converter "
                + from + " -> " + to + " although SIMD is on (" + VectorSupport.reason() + ")"));
    }

    private static byte[] run(ScaledConverter converter, byte[] source, byte[] fill, long[] offset, int length,
                              float scale, boolean nativeMemory) {
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
            converter.convert(src, offset[0], dst, offset[1], length, scale);
            return dst.toArray(ValueLayout.JAVA_BYTE);
        }
    }
}
