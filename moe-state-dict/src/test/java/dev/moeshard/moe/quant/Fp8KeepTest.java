package dev.moeshard.moe.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.testing.TestTensors;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * FP8 experts grouped as FP8 with grouped scales: dequantizing the grouped tensor gives exactly the dequantized
 * per-expert tensors, partial blocks along H included, and toHf gives back every FP8 weight and scale byte for byte.
 */
class Fp8KeepTest {
    private static final int E = 4;
    private static final long H = 200; // two blocks, the second cut short
    private static final String P = "model.layers.3.mlp.experts.";

    static Map<String, Tensor> checkpoint(MoeConfig c, ExpertNaming naming) {
        Map<String, Tensor> hf = new LinkedHashMap<>();
        hf.put("model.layers.3.self_attn.q_proj.weight", Fp8BlockDequantizerTest.randomFp8(1, DType.F8_E4M3, H, H));
        hf.put("model.layers.3.self_attn.q_proj.weight_scale_inv", TestTensors.random(2, DType.F32, 2, 2));
        for (int e = 0; e < E; e++) {
            for (Projection p : Projection.values()) {
                long rows = p == Projection.DOWN ? c.hidden() : c.intermediate();
                long cols = p == Projection.DOWN ? c.intermediate() : c.hidden();
                String key = naming.perExpertKey("model.", 3, e, p);
                hf.put(key, Fp8BlockDequantizerTest.randomFp8(10 + e * 3 + p.ordinal(), DType.F8_E4M3, rows, cols));
                hf.put(key + "_scale_inv", TestTensors.random(50 + e * 3 + p.ordinal(), DType.F32,
                        Fp8BlockDequantizer.scaleShape(rows, cols)));
            }
        }
        return hf;
    }

    private static void assertSameBytes(Tensor want, Tensor got, String what) {
        assertArrayEquals(want.sizes(), got.sizes(), what);
        assertEquals(want.dtype(), got.dtype(), what);
        assertEquals(-1, want.contiguousCopy().segment().mismatch(got.contiguousCopy().segment()), what);
    }

    @Test
    void groupedFp8DequantizesToTheDequantizedExpertsAndComesBackByteForByte() {
        for (boolean gated : new boolean[] {true, false}) {
            MoeConfig config = new MoeConfig(E, H, gated ? 256 : 100, gated);
            MoeStateDictAdapter adapter = new MoeStateDictAdapter(config, ExpertNaming.DEFAULT);
            Map<String, Tensor> hf = checkpoint(config, ExpertNaming.DEFAULT);
            for (int ranks : new int[] {1, 3}) {
                for (int rank = 0; rank < ranks; rank++) {
                    DeviceMesh mesh = ranks == 1 ? null : DeviceMesh.expertParallel(ranks, rank);
                    ExpertRange range = ExpertRange.forMesh(mesh, E);
                    Map<String, Tensor> grouped = adapter.fromHf(new LinkedHashMap<>(hf),
                            FromHfOptions.defaults().withMesh(mesh).withKeepFp8(true));
                    Tensor gu = grouped.get(P + "gate_and_up_projs");
                    Tensor gus = grouped.get(P + "gate_and_up_projs_scale_inv");
                    Tensor down = grouped.get(P + "down_projs");
                    Tensor downs = grouped.get(P + "down_projs_scale_inv");
                    assertEquals(DType.F8_E4M3, gu.dtype());
                    assertArrayEquals(new long[] {range.count(), 2, gated ? 4 : 1}, gus.sizes());
                    assertArrayEquals(new long[] {range.count(), gated ? 2 : 1, 2}, downs.sizes());
                    // The attention weight keeps its FP8 bytes and its scales.
                    assertSameBytes(hf.get("model.layers.3.self_attn.q_proj.weight"),
                            grouped.get("model.layers.3.self_attn.q_proj.weight"), "q_proj");
                    assertSameBytes(hf.get("model.layers.3.self_attn.q_proj.weight_scale_inv"),
                            grouped.get("model.layers.3.self_attn.q_proj.weight_scale_inv"), "q_proj scales");
                    long inter = config.intermediate();
                    for (int i = 0; i < range.count(); i++) {
                        int e = range.start() + i;
                        Tensor guDq = Fp8BlockDequantizer.dequantize(gu.select(0, i), gus.select(0, i), DType.F32, "gu");
                        Tensor downDq = Fp8BlockDequantizer.dequantize(down.select(0, i), downs.select(0, i), DType.F32, "d");
                        for (Projection p : Projection.values()) {
                            if (p == Projection.GATE && !gated) {
                                continue;
                            }
                            String key = ExpertNaming.DEFAULT.perExpertKey("model.", 3, e, p);
                            Tensor want = Fp8BlockDequantizer.dequantize(hf.get(key), hf.get(key + "_scale_inv"),
                                    DType.F32, key).t();
                            Tensor got = p == Projection.DOWN ? downDq
                                    : guDq.narrow(1, p == Projection.UP && gated ? inter : 0, inter);
                            assertSameBytes(want, got, key + " dequantized, rank " + rank + " of " + ranks);
                        }
                    }
                    Map<String, Tensor> back = adapter.toHf(grouped, ToHfOptions.defaults().withLocalExperts(range));
                    for (Map.Entry<String, Tensor> b : back.entrySet()) {
                        assertSameBytes(hf.get(b.getKey()), b.getValue(), b.getKey());
                    }
                    int perExpert = gated ? 6 : 4;
                    assertEquals(2 + perExpert * range.count(), back.size());
                }
            }
        }
    }

    @Test
    void aGatedIntermediateSizeOffTheBlockGridIsRefused() {
        MoeConfig config = new MoeConfig(E, H, 96, true);
        MoeStateDictAdapter adapter = new MoeStateDictAdapter(config, ExpertNaming.DEFAULT);
        var e = assertThrows(IllegalArgumentException.class, () -> adapter.fromHf(
                new LinkedHashMap<>(checkpoint(config, ExpertNaming.DEFAULT)), FromHfOptions.defaults().withKeepFp8(true)));
        assertTrue(e.getMessage().contains("not a multiple") && e.getMessage().contains("dequantize"), e.getMessage());
    }
}
