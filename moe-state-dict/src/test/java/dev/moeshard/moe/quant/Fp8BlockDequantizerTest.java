package dev.moeshard.moe.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.testing.TestTensors;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.FloatFormat;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.convert.Converters;
import dev.moeshard.tensor.convert.ScaledConverter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Block dequantization against a naive per-element loop, partial edge blocks included. */
class Fp8BlockDequantizerTest {

    static Tensor randomFp8(long seed, DType dtype, long rows, long cols) {
        SplittableRandom random = new SplittableRandom(seed);
        Tensor t = Tensor.allocate(dtype, rows, cols);
        long nan = FloatFormat.require(dtype).nanBits();
        for (long r = 0; r < rows; r++) {
            for (long c = 0; c < cols; c++) {
                long bits;
                do {
                    bits = random.nextInt(256);
                } while (Double.isNaN(FloatFormat.require(dtype).decode(bits)) || Double.isInfinite(FloatFormat.require(dtype).decode(bits)) || bits == nan);
                t.setBits(bits, r, c);
            }
        }
        return t;
    }

    // The reference multiplies in F32, then rounds the F32 product to the target dtype.
    static Tensor naive(Tensor w, Tensor scale, DType target) {
        Tensor out = Tensor.allocate(target, w.sizes());
        for (long r = 0; r < w.size(0); r++) {
            for (long c = 0; c < w.size(1); c++) {
                float product = (float) w.getDouble(r, c) * (float) scale.getDouble(r / 128, c / 128);
                out.setDouble(product, r, c);
            }
        }
        return out;
    }

    @Test
    void matchesNaiveLoopWithPartialBlocks() {
        for (DType fp8 : new DType[] {DType.F8_E4M3, DType.F8_E5M2}) {
            for (DType target : new DType[] {DType.BF16, DType.F32, DType.F16}) {
                Tensor w = randomFp8(11, fp8, 300, 200);
                Tensor scale = TestTensors.random(12, DType.F32, 3, 2);
                Tensor got = Fp8BlockDequantizer.dequantize(w, scale, target, "w");
                Tensor want = naive(w, scale, target);
                assertEquals(-1, want.segment().mismatch(got.segment()), fp8 + " -> " + target);
            }
        }
    }

    @Test
    void stridedWeightAndExactBlockEdges() {
        Tensor w = randomFp8(5, DType.F8_E4M3, 256, 128).t();
        Tensor scale = TestTensors.random(6, DType.F32, 1, 2);
        assertEquals(-1, naive(w, scale, DType.BF16).segment()
                .mismatch(Fp8BlockDequantizer.dequantize(w, scale, DType.BF16, "w").segment()));
    }

    @Test
    void wrongScaleShapeIsNamed() {
        var e = assertThrows(IllegalArgumentException.class, () -> Fp8BlockDequantizer.dequantize(
                Tensor.allocate(DType.F8_E4M3, 300, 200), Tensor.allocate(DType.F32, 2, 2), DType.BF16, "x.weight"));
        assertEquals("x.weight: scale_inv has shape [2, 2], a weight of shape [300, 200] needs [3, 2] "
                + "(one scale per 128x128 block)", e.getMessage());
    }

    /**
     * The row kernel behind dequantizeInto against one scalar single-scale call per 128-element block (the path it
     * replaced) and against the naive loop, on a weight whose rows and columns both end in a partial block. The
     * output is the middle of three matrices, to show that it is written from its own offset and nothing around it is.
     */
    @Test
    void dequantizeIntoMatchesOneCallPerBlockWithRaggedEdges() {
        for (DType fp8 : new DType[] {DType.F8_E4M3, DType.F8_E5M2}) {
            for (DType target : new DType[] {DType.BF16, DType.F16, DType.F32}) {
                Tensor w = randomFp8(21, fp8, 300, 259);
                Tensor scale = TestTensors.random(22, DType.F32, 3, 3);
                Tensor storage = TestTensors.random(23, target, 3, 300, 259);
                Tensor before = storage.contiguousCopy();
                Fp8BlockDequantizer.dequantizeInto(w, scale, storage.select(0, 1), "w");
                String where = fp8 + " -> " + target;
                assertEquals(-1, perBlock(w, scale, target).segment().mismatch(storage.select(0, 1).segment()), where);
                assertEquals(-1, naive(w, scale, target).segment().mismatch(storage.select(0, 1).segment()), where);
                for (int untouched : new int[] {0, 2}) {
                    assertEquals(-1, before.select(0, untouched).segment()
                            .mismatch(storage.select(0, untouched).segment()), where + ": matrix " + untouched);
                }
            }
        }
    }

    /** Every target, those with a fused kernel and those through F32 (F64, FP8): the bytes dequantize returns. */
    @Test
    void dequantizeIntoWritesWhatDequantizeReturns() {
        Tensor w = randomFp8(31, DType.F8_E4M3, 130, 300);
        Tensor scale = TestTensors.random(32, DType.F32, 2, 3);
        for (DType target : new DType[] {DType.F64, DType.F32, DType.F16, DType.BF16, DType.F8_E4M3, DType.F8_E5M2}) {
            Tensor out = TestTensors.random(33, target, 130, 300);
            Fp8BlockDequantizer.dequantizeInto(w, scale, out, "w");
            assertEquals(-1, Fp8BlockDequantizer.dequantize(w, scale, target, "w").segment().mismatch(out.segment()),
                    target.toString());
        }
    }

    @Test
    void dequantizeIntoRefusesOutputsItCannotWriteInOneGo() {
        Tensor w = Tensor.allocate(DType.F8_E4M3, 300, 200);
        Tensor scale = Tensor.allocate(DType.F32, 3, 2);
        var shape = assertThrows(IllegalArgumentException.class, () -> Fp8BlockDequantizer.dequantizeInto(
                w, scale, Tensor.allocate(DType.BF16, 200, 300), "x.weight"));
        assertEquals("x.weight: the output has shape [200, 300], the weight [300, 200] dequantizes to the same shape",
                shape.getMessage());
        var strided = assertThrows(IllegalArgumentException.class, () -> Fp8BlockDequantizer.dequantizeInto(
                w, scale, Tensor.allocate(DType.BF16, 200, 300).t(), "x.weight"));
        assertEquals("x.weight: the output must be contiguous (row-major, no gaps), it has strides [1, 300] for "
                + "shape [300, 200]", strided.getMessage());
        var dtype = assertThrows(IllegalArgumentException.class, () -> Fp8BlockDequantizer.dequantizeInto(
                w, scale, Tensor.allocate(DType.I32, 300, 200), "x.weight"));
        assertEquals("x.weight: cannot dequantize to I32: the result must be F64, F32, F16, BF16, F8_E4M3 or F8_E5M2",
                dtype.getMessage());
        var weight = assertThrows(IllegalArgumentException.class, () -> Fp8BlockDequantizer.dequantizeInto(
                Tensor.allocate(DType.BF16, 300, 200), scale, Tensor.allocate(DType.BF16, 300, 200), "x.weight"));
        assertEquals("x.weight: block dequantization needs a 2-d F8_E4M3 or F8_E5M2 weight, got BF16[300, 200]",
                weight.getMessage());
        var scales = assertThrows(IllegalArgumentException.class, () -> Fp8BlockDequantizer.dequantizeInto(
                w, Tensor.allocate(DType.F32, 3, 1), Tensor.allocate(DType.BF16, 300, 200), "x.weight"));
        assertEquals("x.weight: scale_inv has shape [3, 1], a weight of shape [300, 200] needs [3, 2] "
                + "(one scale per 128x128 block)", scales.getMessage());
    }

    /** The dequantization as it was done before rows went to the kernel whole: one scalar call per row and block. */
    private static Tensor perBlock(Tensor w, Tensor scale, DType target) {
        ScaledConverter converter = Converters.scaledScalar(w.dtype(), target);
        Tensor out = Tensor.allocate(target, w.sizes());
        long cols = w.size(1);
        int width = target.byteSize();
        for (long r = 0; r < w.size(0); r++) {
            for (long c = 0; c < cols; c += 128) {
                converter.convert(w.segment(), r * cols + c, out.segment(), (r * cols + c) * width,
                        Math.min(128, cols - c), (float) scale.getDouble(r / 128, c / 128));
            }
        }
        return out;
    }

    /**
     * loadInto dequantizes each expert straight into its view of the model's storage where that view is contiguous
     * (the layouts that stack the HF tensors as they are) and through a scratch tensor where it is not (DeepEP's
     * transposes): the same bytes as fromHf either way.
     */
    @Test
    void loadIntoDequantizesIntoContiguousAndStridedExpertViews() {
        MoeConfig config = new MoeConfig(2, 160, 136, true);
        Map<String, Tensor> hf = new LinkedHashMap<>();
        long seed = 50;
        for (int e = 0; e < 2; e++) {
            for (String p : new String[] {"gate_proj", "up_proj", "down_proj"}) {
                long rows = p.equals("down_proj") ? 160 : 136;
                long cols = p.equals("down_proj") ? 136 : 160;
                String key = "model.layers.0.mlp.experts." + e + "." + p + ".weight";
                hf.put(key, randomFp8(seed++, DType.F8_E5M2, rows, cols));
                hf.put(key + "_scale_inv", TestTensors.random(seed++, DType.F32, 2, 2));
            }
        }
        for (GroupedLayout layout : GroupedLayout.named()) {
            Map<String, Tensor> expected = new MoeStateDictAdapter(config, ExpertNaming.DEFAULT, layout)
                    .fromHf(new LinkedHashMap<>(hf));
            Map<String, Tensor> storage = new LinkedHashMap<>();
            expected.forEach((key, t) -> storage.put(key, Tensor.allocate(t.dtype(), t.sizes())));
            new MoeStateDictAdapter(config, ExpertNaming.DEFAULT, layout)
                    .loadInto(storage, new LinkedHashMap<>(hf), FromHfOptions.defaults());
            for (String key : expected.keySet()) {
                assertEquals(-1, expected.get(key).segment().mismatch(storage.get(key).segment()), layout + " " + key);
            }
        }
    }

    @Test
    void fromHfDequantizesExpertsBeforeGroupingAndDropsScales() {
        MoeStateDictAdapter adapter = new MoeStateDictAdapter(new MoeConfig(2, 160, 136, true), ExpertNaming.DEFAULT);
        Map<String, Tensor> hf = new LinkedHashMap<>();
        Map<String, Tensor> dequantized = new LinkedHashMap<>();
        long seed = 40;
        for (int e = 0; e < 2; e++) {
            for (String p : new String[] {"gate_proj", "up_proj", "down_proj"}) {
                long rows = p.equals("down_proj") ? 160 : 136;
                long cols = p.equals("down_proj") ? 136 : 160;
                String key = "model.layers.0.mlp.experts." + e + "." + p + ".weight";
                Tensor w = randomFp8(seed++, DType.F8_E4M3, rows, cols);
                Tensor s = TestTensors.random(seed++, DType.F32, 2, 2);
                hf.put(key + "_scale_inv", s);
                hf.put(key, w);
                dequantized.put(key, naive(w, s, DType.BF16));
            }
        }
        Map<String, Tensor> grouped = adapter.fromHf(hf);
        assertFalse(grouped.keySet().stream().anyMatch(k -> k.endsWith("_scale_inv")));
        Tensor gu = grouped.get("model.layers.0.mlp.experts.gate_and_up_projs");
        assertEquals(DType.BF16, gu.dtype());
        assertArrayEquals(new long[] {2, 160, 272}, gu.sizes());
        Tensor up1 = dequantized.get("model.layers.0.mlp.experts.1.up_proj.weight");
        assertEquals(-1, up1.t().contiguousCopy().segment().mismatch(gu.select(0, 1).narrow(1, 136, 136).contiguousCopy().segment()));
    }
}
