package dev.moeshard.moe.lora;

import static dev.moeshard.moe.testing.TensorAssertions.assertSameBytes;
import static dev.moeshard.moe.testing.TensorAssertions.assertSameStateDict;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.ToHfOptions.LoraFormat;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.testing.TestTensors;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Grouped expert LoRA ↔ both PEFT layouts, byte exact both ways. E = 4, H = 8, I = 6, r = 3. */
class LoraConversionTest {
    static final int E = 4;
    static final long H = 8;
    static final long I = 6;
    static final long R = 3;
    static final String BASE = "base_model.model.model.layers.1.mlp.experts.";

    static Map<String, Tensor> groupedLora(boolean gated) {
        Map<String, Tensor> g = new LinkedHashMap<>();
        g.put(BASE + "lora_gate_and_up_A", TestTensors.random(1, DType.BF16, E, H, R));
        g.put(BASE + "lora_gate_and_up_B", TestTensors.random(2, DType.BF16, E, R, gated ? 2 * I : I));
        g.put(BASE + "lora_down_A", TestTensors.random(3, DType.BF16, E, I, R));
        g.put(BASE + "lora_down_B", TestTensors.random(4, DType.BF16, E, R, H));
        return g;
    }

    static MoeStateDictAdapter adapter(boolean gated) {
        return new MoeStateDictAdapter(new MoeConfig(E, H, I, gated), ExpertNaming.DEFAULT);
    }

    @Test
    void perExpertPeftKeysAndShapes() {
        Map<String, Tensor> grouped = groupedLora(true);
        Map<String, Tensor> hf = adapter(true).toHf(grouped, ToHfOptions.defaults());
        assertEquals(E * 6, hf.size());
        Tensor gateA = hf.get(BASE + "2.gate_proj.lora_A.weight");
        assertArrayEquals(new long[] {R, H}, gateA.sizes());
        assertSameBytes(grouped.get(BASE + "lora_gate_and_up_A").select(0, 2).t().contiguousCopy(), gateA, "gate A");
        assertSameBytes(gateA, hf.get(BASE + "2.up_proj.lora_A.weight"), "up A is gate A");
        Tensor b = grouped.get(BASE + "lora_gate_and_up_B").select(0, 2);
        assertSameBytes(b.narrow(1, 0, I).t().contiguousCopy(), hf.get(BASE + "2.gate_proj.lora_B.weight"), "gate B");
        assertSameBytes(b.narrow(1, I, I).t().contiguousCopy(), hf.get(BASE + "2.up_proj.lora_B.weight"), "up B");
        assertArrayEquals(new long[] {R, I}, hf.get(BASE + "2.down_proj.lora_A.weight").sizes());
        assertArrayEquals(new long[] {H, R}, hf.get(BASE + "2.down_proj.lora_B.weight").sizes());
    }

    @Test
    void perExpertRoundTripIsByteExactGatedAndNot() {
        for (boolean gated : new boolean[] {true, false}) {
            Map<String, Tensor> grouped = groupedLora(gated);
            MoeStateDictAdapter adapter = adapter(gated);
            Map<String, Tensor> hf = adapter.toHf(grouped, ToHfOptions.defaults());
            assertEquals(E * (gated ? 6 : 4), hf.size());
            assertSameStateDict(grouped, adapter.fromHf(new LinkedHashMap<>(hf)));
        }
    }

    @Test
    void paramWrapperKeysShapesAndRoundTrip() {
        Map<String, Tensor> grouped = groupedLora(true);
        MoeStateDictAdapter adapter = adapter(true);
        Map<String, Tensor> hf = adapter.toHf(grouped, ToHfOptions.defaults().withLoraFormat(LoraFormat.PARAM_WRAPPER));
        assertArrayEquals(new long[] {H, R * E}, hf.get(BASE + "base_layer.lora_B.weight").sizes());
        assertArrayEquals(new long[] {R * E, 2 * I}, hf.get(BASE + "base_layer.lora_A.weight").sizes());
        assertArrayEquals(new long[] {R * E, H}, hf.get(BASE + "lora_A.weight").sizes());
        assertArrayEquals(new long[] {I, R * E}, hf.get(BASE + "lora_B.weight").sizes());
        // lora_B (I, r·E) column r_·E + e holds downA[e][i][r_] (permute(1, 2, 0), then fold).
        Tensor downA = grouped.get(BASE + "lora_down_A");
        assertEquals(downA.getDouble(3, 5, 2), hf.get(BASE + "lora_B.weight").getDouble(5, 2 * E + 3));
        assertSameStateDict(grouped, adapter.fromHf(new LinkedHashMap<>(hf)));
    }

    /**
     * Found by the LoRA round-trip property probed under expert parallelism: rank 1 of 2 folded its 2 experts into
     * [r·2, ...], which fromHf unfolded over all 4 experts as rank r / 2, silently. A partial fold is refused.
     */
    @Test
    void paramWrapperRefusesRankLocalTensors() {
        Map<String, Tensor> local = new LinkedHashMap<>();
        groupedLora(true).forEach((k, v) -> local.put(k, v.narrow(0, 2, 2).contiguousCopy()));
        ToHfOptions pw = ToHfOptions.defaults().withLoraFormat(LoraFormat.PARAM_WRAPPER);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> adapter(true).toHf(local, pw.withLocalExperts(ExpertRange.forRank(1, 2, E))));
        assertTrue(e.getMessage().contains("folds all 4 experts") && e.getMessage().contains("experts 2:4"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> adapter(true).toHf(local, pw));
    }

    @Test
    void incompletePerExpertGroupsPassThrough() {
        Map<String, Tensor> hf = adapter(true).toHf(groupedLora(true), ToHfOptions.defaults());
        hf.remove(BASE + "3.down_proj.lora_A.weight");
        hf.remove(BASE + "0.up_proj.lora_B.weight");
        Map<String, Tensor> back = adapter(true).fromHf(new LinkedHashMap<>(hf));
        assertTrue(back.containsKey(BASE + "lora_gate_and_up_A"));
        assertTrue(back.containsKey(BASE + "lora_down_B"));
        assertTrue(back.containsKey(BASE + "0.down_proj.lora_A.weight"), "incomplete down A stays per expert");
        assertTrue(back.containsKey(BASE + "1.gate_proj.lora_B.weight"), "gate B without all up B stays per expert");
        assertTrue(back.containsKey(BASE + "1.up_proj.lora_B.weight"));
        assertEquals(2 + 3 + 4 + 3, back.size());
    }
}
