package dev.moeshard.moe.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** MXFP4 decoding against a table written out by hand, on every byte value and exponents across the E8M0 range. */
class Mxfp4DecoderTest {
    // The E2M1 values as the MX specification lists them, indexed by code; independent of Fp4E2M1's bit arithmetic.
    private static final double[] TABLE = {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
            -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0};
    private static final int[] EXPONENTS = {0, 1, 2, 50, 100, 120, 126, 127, 128, 129, 140, 200, 253, 254, 255};

    /** The reference: table value times 2^(s − 127), exact in double, rounded once to F32. */
    private static float reference(int code, int scale) {
        return (float) (TABLE[code] * Math.pow(2, scale - 127));
    }

    /** Blocks [E, rows, G, 16] whose bytes run through all 256 values, and scales from EXPONENTS. */
    private static Tensor[] everyByte(int experts, int rows, int groups) {
        Tensor blocks = Tensor.allocate(DType.U8, experts, rows, groups, 16);
        Tensor scales = Tensor.allocate(DType.U8, experts, rows, groups);
        long n = blocks.numel();
        for (long i = 0; i < n; i++) {
            blocks.segment().set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7 + i / 256));
        }
        for (long i = 0; i < scales.numel(); i++) {
            scales.segment().set(ValueLayout.JAVA_BYTE, i, (byte) EXPONENTS[(int) (i % EXPONENTS.length)]);
        }
        return new Tensor[] {blocks, scales};
    }

    private static int u8(Tensor t, long index) {
        return t.segment().get(ValueLayout.JAVA_BYTE, index) & 0xFF;
    }

    @Test
    void everyByteAndExponentMatchesTheTableOnBothKernels() {
        List<Mxfp4Kernel> kernels = List.of(new ScalarMxfp4Kernel(), new PanamaMxfp4Kernel());
        for (Mxfp4Kernel kernel : kernels) {
            // 16 groups × 16 bytes = every byte value once per row; 15 rows cover every exponent at every group.
            Tensor[] in = everyByte(1, 15, 16);
            for (int scale : EXPONENTS) {
                for (long i = 0; i < in[1].numel(); i++) {
                    in[1].segment().set(ValueLayout.JAVA_BYTE, i, (byte) scale);
                }
                for (int b = 0; b < 256; b++) {
                    in[0].segment().set(ValueLayout.JAVA_BYTE, b, (byte) b);
                }
                Tensor got = Mxfp4Decoder.decodeToF32(in[0].select(0, 0), in[1].select(0, 0), kernel, Arena.ofAuto());
                for (long i = 0; i < in[0].numel(); i++) {
                    int packed = u8(in[0], i);
                    float lo = got.segment().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 2 * i);
                    float hi = got.segment().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 2 * i + 1);
                    assertEquals(Float.floatToRawIntBits(reference(packed & 0xF, scale)), Float.floatToRawIntBits(lo),
                            kernel + ": byte " + packed + " scale " + scale + " low nibble");
                    assertEquals(Float.floatToRawIntBits(reference(packed >>> 4, scale)), Float.floatToRawIntBits(hi),
                            kernel + ": byte " + packed + " scale " + scale + " high nibble");
                }
            }
        }
    }

    @Test
    void decodesToTheTransposedInOutLayout() {
        int experts = 2;
        int rows = 6;
        int groups = 3;
        Tensor[] in = everyByte(experts, rows, groups);
        for (DType target : new DType[] {DType.F32, DType.BF16}) {
            Tensor out = Mxfp4Decoder.decode(in[0], in[1], target, "w");
            assertEquals(List.of(2L, 96L, 6L), List.of(out.size(0), out.size(1), out.size(2)));
            Tensor want = Tensor.allocate(DType.F32, experts, groups * 32L, rows);
            for (int e = 0; e < experts; e++) {
                for (int r = 0; r < rows; r++) {
                    for (int g = 0; g < groups; g++) {
                        int scale = u8(in[1], ((long) e * rows + r) * groups + g);
                        for (int j = 0; j < 16; j++) {
                            int packed = u8(in[0], (((long) e * rows + r) * groups + g) * 16 + j);
                            want.setDouble(reference(packed & 0xF, scale), e, g * 32L + 2 * j, r);
                            want.setDouble(reference(packed >>> 4, scale), e, g * 32L + 2 * j + 1, r);
                        }
                    }
                }
            }
            assertEquals(-1, want.to(target).segment().mismatch(out.segment()), "decoded to " + target);
        }
    }

    @Test
    void simdMatchesScalarOnRandomBlocks() {
        SplittableRandom random = new SplittableRandom(9);
        for (int rows : new int[] {1, 3, 17}) {
            for (int groups : new int[] {1, 2, 5, 90}) {
                Tensor blocks = Tensor.allocate(DType.U8, rows, groups, 16);
                Tensor scales = Tensor.allocate(DType.U8, rows, groups);
                for (long i = 0; i < blocks.numel(); i++) {
                    blocks.segment().set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
                }
                for (long i = 0; i < scales.numel(); i++) {
                    scales.segment().set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
                }
                Tensor scalar = Mxfp4Decoder.decodeToF32(blocks, scales, new ScalarMxfp4Kernel(), Arena.ofAuto());
                Tensor simd = Mxfp4Decoder.decodeToF32(blocks, scales, new PanamaMxfp4Kernel(), Arena.ofAuto());
                assertEquals(-1, scalar.segment().mismatch(simd.segment()), rows + "x" + groups);
            }
        }
    }

    @Test
    void missingOrMisShapedScalesAreNamed() {
        List<String> missing = Mxfp4Decoder.problems("a.gate_up_proj_blocks", DType.U8, new long[] {2, 4, 3, 16},
                "a.gate_up_proj_scales", null, null);
        assertEquals(1, missing.size());
        assertTrue(missing.get(0).startsWith("a.gate_up_proj_scales: missing"), missing.get(0));
        List<String> shaped = Mxfp4Decoder.problems("a.down_proj_blocks", DType.U8, new long[] {2, 4, 3, 16},
                "a.down_proj_scales", DType.U8, new long[] {2, 4, 4});
        assertEquals(1, shaped.size());
        assertTrue(shaped.get(0).contains("a.down_proj_scales") && shaped.get(0).contains("[2, 4, 3]"), shaped.get(0));
        assertFalse(Mxfp4Decoder.problems("b", DType.U8, new long[] {1, 1, 1, 16}, "s", DType.U8, new long[] {1, 1, 1})
                .iterator().hasNext());
    }
}
