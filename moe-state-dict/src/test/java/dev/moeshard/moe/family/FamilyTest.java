package dev.moeshard.moe.family;

import static dev.moeshard.moe.testing.TensorAssertions.assertSameStateDict;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.testing.FixtureCheckpoint;
import dev.moeshard.moe.testing.TestTensors;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class FamilyTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void fixtureConfigs() {
        DetectedModel qwen = FamilyDetection.fromConfigFile(FixtureCheckpoint.dir("qwen3_moe").resolve("config.json"));
        assertEquals(ModelFamily.QWEN3_MOE, qwen.family());
        assertEquals(new MoeConfig(8, 64, 32, true), qwen.config());
        DetectedModel ds = FamilyDetection.fromConfigFile(FixtureCheckpoint.dir("deepseek_v3").resolve("config.json"));
        assertEquals(new MoeConfig(8, 64, 32, true), ds.config());
        DetectedModel oss = FamilyDetection.fromConfigFile(FixtureCheckpoint.dir("gpt_oss").resolve("config.json"));
        assertEquals(ModelFamily.GPT_OSS, oss.family());
        assertEquals(new MoeConfig(8, 64, 32, true), oss.config());
    }

    @Test
    void nemotronIsNonGatedUnderMixer() throws IOException {
        DetectedModel m = FamilyDetection.fromConfig(JSON.readTree("""
                {"model_type": "nemotron_h", "n_routed_experts": 4, "moe_intermediate_size": 16, "hidden_size": 32,
                 "mlp_hidden_act": "relu2"}"""), "config.json");
        assertEquals(ModelFamily.NEMOTRON_H, m.family());
        assertFalse(m.config().gated());
        assertEquals("mixer.experts", m.family().naming().segment());
    }

    @Test
    void unknownModelTypeSaysWhatToPass() throws IOException {
        var e = assertThrows(IllegalArgumentException.class, () -> FamilyDetection.fromConfig(
                JSON.readTree("{\"model_type\": \"llama\"}"), "config.json"));
        assertTrue(e.getMessage().contains("pass a MoeConfig and an ExpertNaming"), e.getMessage());
    }

    @Test
    void mixtralNamesRoundTripUnderBlockSparseMoe() {
        Map<String, Tensor> hf = new LinkedHashMap<>();
        for (int e = 0; e < 4; e++) {
            hf.put("model.layers.0.block_sparse_moe.experts." + e + ".w1.weight", TestTensors.random(e, DType.BF16, 6, 8));
            hf.put("model.layers.0.block_sparse_moe.experts." + e + ".w3.weight", TestTensors.random(10 + e, DType.BF16, 6, 8));
            hf.put("model.layers.0.block_sparse_moe.experts." + e + ".w2.weight", TestTensors.random(20 + e, DType.BF16, 8, 6));
        }
        hf.put("model.layers.0.block_sparse_moe.gate.weight", TestTensors.random(99, DType.BF16, 4, 8));
        DetectedModel m = FamilyDetection.fromTensors(hf);
        assertEquals(ModelFamily.MIXTRAL, m.family());
        assertEquals(new MoeConfig(4, 8, 6, true), m.config());
        MoeStateDictAdapter adapter = m.adapter();
        Map<String, Tensor> grouped = adapter.fromHf(new LinkedHashMap<>(hf));
        assertTrue(grouped.containsKey("model.layers.0.block_sparse_moe.experts.gate_and_up_projs"));
        assertTrue(grouped.containsKey("model.layers.0.block_sparse_moe.experts.down_projs"));
        assertSameStateDict(hf, adapter.toHf(grouped, ToHfOptions.defaults()));
    }

    @Test
    void transformersV5FusedInputGivesTheSameGroupedResultAsItsPerExpertTwin() throws IOException {
        Map<String, Tensor> perExpert = FixtureCheckpoint.load(FixtureCheckpoint.dir("qwen3_moe"));
        DetectedModel model = FamilyDetection.fromConfigFile(FixtureCheckpoint.dir("qwen3_moe").resolve("config.json"));
        // Build the v5 twin: gate_up_proj [E, 2I, H] (gate rows first) and down_proj [E, H, I].
        Map<String, Tensor> fused = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : perExpert.entrySet()) {
            if (!e.getKey().contains(".mlp.experts.")) {
                fused.put(e.getKey(), e.getValue());
            }
        }
        for (int l = 0; l < 2; l++) {
            String p = "model.layers." + l + ".mlp.experts.";
            Tensor gateUp = Tensor.allocate(DType.BF16, 8, 64, 64);
            Tensor down = Tensor.allocate(DType.BF16, 8, 64, 32);
            for (int e = 0; e < 8; e++) {
                gateUp.select(0, e).narrow(0, 0, 32).copyFrom(perExpert.get(p + e + ".gate_proj.weight"));
                gateUp.select(0, e).narrow(0, 32, 32).copyFrom(perExpert.get(p + e + ".up_proj.weight"));
                down.select(0, e).copyFrom(perExpert.get(p + e + ".down_proj.weight"));
            }
            fused.put(p + "gate_up_proj", gateUp);
            fused.put(p + "down_proj", down);
        }
        DetectedModel fromShapes = FamilyDetection.fromTensors(fused);
        assertEquals(model.config(), fromShapes.config());
        for (int world = 1; world <= 3; world++) {
            for (int rank = 0; rank < world; rank++) {
                var opts = FromHfOptions.defaults().withMesh(DeviceMesh.expertParallel(world, rank));
                assertSameStateDict(model.adapter().fromHf(new LinkedHashMap<>(perExpert), opts),
                        model.adapter().fromHf(new LinkedHashMap<>(fused), opts));
            }
        }
    }

    @Test
    void gptOssIsToldFromItsRouterAndShapes() throws IOException {
        Map<String, Tensor> oss = FixtureCheckpoint.load(FixtureCheckpoint.dir("gpt_oss"));
        DetectedModel m = FamilyDetection.fromTensors(oss);
        assertEquals(ModelFamily.GPT_OSS, m.family());
        assertEquals(new MoeConfig(8, 64, 32, true), m.config());
        Tensor gu = oss.get("model.layers.0.mlp.experts.gate_up_proj");
        assertEquals(gu.getDouble(3, 5, 6), GroupedOnDiskConversion.gate(gu).getDouble(3, 5, 3));
        assertEquals(gu.getDouble(3, 5, 7), GroupedOnDiskConversion.up(gu).getDouble(3, 5, 3));
    }

    /**
     * GPT-OSS written as deepep takes the reference adapter's names, as hf-v5 keeps its own, both ways; the views are
     * the input's, cut to the rank's experts.
     */
    @Test
    void gptOssKeepsItsNamesOnlyAsHfV5() throws IOException {
        Map<String, Tensor> oss = FixtureCheckpoint.load(FixtureCheckpoint.dir("gpt_oss"));
        GroupedOnDiskConversion hfV5 = new GroupedOnDiskConversion(ModelFamily.GPT_OSS, 8, GroupedLayout.HF_V5);
        Map<String, Tensor> rank1 = hfV5.fromHf(oss, DeviceMesh.expertParallel(2, 1));
        assertEquals(oss.keySet(), rank1.keySet());
        Tensor gu = oss.get("model.layers.0.mlp.experts.gate_up_proj");
        assertEquals(gu.getDouble(5, 3, 7), rank1.get("model.layers.0.mlp.experts.gate_up_proj").getDouble(1, 3, 7));
        assertEquals(oss.keySet(), hfV5.toHf(rank1).keySet());
        GroupedOnDiskConversion deepep = new GroupedOnDiskConversion(ModelFamily.GPT_OSS, 8, GroupedLayout.DEEPEP);
        assertEquals("model.layers.0.mlp.experts.gate_and_up_projs",
                deepep.groupedName("model.layers.0.mlp.experts.gate_up_proj"));
        assertEquals("model.layers.0.mlp.gate.weight", deepep.groupedName("model.layers.0.mlp.router.weight"));
        assertEquals(ModelFamily.GPT_OSS.onDiskRenames(), ModelFamily.GPT_OSS.onDiskRenames(null));
        assertEquals(ModelFamily.LLAMA4.onDiskRenames(), ModelFamily.LLAMA4.onDiskRenames(GroupedLayout.HF_V5),
                "Llama-4's hf-v5 is regrouped from its renamed tensors");
    }

    @Test
    void shapesThatFitNoLayoutAreAnErrorThatSaysWhatToPass() {
        Map<String, Tensor> sd = new LinkedHashMap<>();
        sd.put("model.layers.0.mlp.experts.gate_up_proj", Tensor.allocate(DType.BF16, 4, 16, 16));
        sd.put("model.layers.0.mlp.experts.down_proj", Tensor.allocate(DType.BF16, 4, 16, 16));
        var e = assertThrows(IllegalArgumentException.class, () -> FamilyDetection.fromTensors(sd));
        assertTrue(e.getMessage().contains("pass config.json"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> FamilyDetection.fromTensors(Map.of("a", Tensor.allocate(DType.F32, 2))));
    }

    @Test
    void sharedExpertsAreUntouched() throws IOException {
        Map<String, Tensor> ds = FixtureCheckpoint.load(FixtureCheckpoint.dir("deepseek_v3"));
        MoeStateDictAdapter adapter = new MoeStateDictAdapter(new MoeConfig(8, 64, 32, true), ExpertNaming.DEFAULT);
        Map<String, Tensor> grouped = adapter.fromHf(new LinkedHashMap<>(ds));
        assertTrue(grouped.get("model.layers.1.mlp.shared_experts.gate_proj.weight") == ds.get("model.layers.1.mlp.shared_experts.gate_proj.weight"));
        assertTrue(grouped.containsKey("model.layers.0.mlp.gate_proj.weight"), "the dense first layer passes through");
    }
}
