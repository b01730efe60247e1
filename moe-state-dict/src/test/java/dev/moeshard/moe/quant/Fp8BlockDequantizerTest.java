package dev.moeshard.moe.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.testing.TestTensors;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.FloatFormat;
import dev.moeshard.tensor.Tensor;
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
