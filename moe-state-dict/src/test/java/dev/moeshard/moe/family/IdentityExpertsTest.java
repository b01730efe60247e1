package dev.moeshard.moe.family;

import static dev.moeshard.moe.testing.TensorAssertions.assertSameBytes;
import static dev.moeshard.moe.testing.TensorAssertions.assertSameStateDict;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.testing.FixtureCheckpoint;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * LongCat-Flash's identity experts (config {@code zero_expert_num}, ids [E, E + Z)), as transformers 5 saves them:
 * the unused gate and up rows of its fused {@code gate_up_proj} [E + Z, 2I, H], with no down projection. They are no
 * routed experts, so the adapter passes them through unchanged on every rank and groups only the E routed ones.
 */
class IdentityExpertsTest {
    private static final String LAYER0 = "model.layers.0.mlp.experts.";
    /** The fixture's 8 tensors under identity experts 8 and 9: gate and up, in layers 0 and 1. */
    private static final List<String> IDENTITY_KEYS = IntStream.range(0, 2).boxed().flatMap(l -> IntStream.of(8, 9)
            .boxed().flatMap(e -> List.of("gate_proj", "up_proj").stream()
                    .map(p -> "model.layers." + l + ".mlp.experts." + e + "." + p + ".weight"))).toList();

    private static DetectedModel longcat() {
        return FamilyDetection.fromConfigFile(FixtureCheckpoint.dir("families/longcat_flash").resolve("config.json"));
    }

    @Test
    void theFamilyTableReadsZeroExpertNumAndTheNamingPassesOverTheirIds() {
        DetectedModel model = longcat();
        assertEquals(ModelFamily.LONGCAT_FLASH, model.family());
        assertEquals(new MoeConfig(8, 64, 32, true, 2), model.config());
        ExpertNaming naming = model.naming();
        assertNotNull(naming.parsePerExpert(LAYER0 + "7.down_proj.weight"));
        assertNull(naming.parsePerExpert(LAYER0 + "8.gate_proj.weight"));
        assertNull(naming.parsePerExpert(LAYER0 + "9.up_proj.weight"));
        assertEquals(9, naming.parseIdentityExpert(LAYER0 + "9.up_proj.weight").expert());
        assertNotNull(naming.parsePerExpert(LAYER0 + "10.gate_proj.weight"), "past E + Z an id is an expert again");
        assertNotNull(ModelFamily.LONGCAT_FLASH.naming().parsePerExpert(LAYER0 + "8.gate_proj.weight"),
                "the table's naming itself knows no E");
        assertEquals(model.naming(), model.adapter().naming());
    }

    @Test
    void aFamilyWithoutTheOptionKeepsEveryIdAnExpertEvenWithTheKeyInItsConfig() throws IOException {
        DetectedModel qwen = FamilyDetection.fromConfig(FamilyTest.JSON.readTree("""
                {"model_type": "qwen3_moe", "num_experts": 8, "moe_intermediate_size": 32, "hidden_size": 64,
                 "zero_expert_num": 2}"""), "config.json");
        assertEquals(0, qwen.config().identityExperts());
        assertNotNull(qwen.naming().parsePerExpert(LAYER0 + "8.gate_proj.weight"));
    }

    @Test
    void zeroExpertNumMustBeAWholeNumberFromZeroAndAbsentOrNullMeansNone() throws IOException {
        for (String value : List.of("-1", "1.5", "\"2\"", "true", "70000")) {
            var e = assertThrows(IllegalArgumentException.class, () -> FamilyDetection.fromConfig(config(value),
                    "config.json"));
            assertTrue(e.getMessage().startsWith("config.json: zero_expert_num must be a whole number from 0 to "),
                    e.getMessage());
            assertTrue(e.getMessage().endsWith("got " + value), e.getMessage());
        }
        assertEquals(0, FamilyDetection.fromConfig(config("null"), "config.json").config().identityExperts());
        assertEquals(0, FamilyDetection.fromConfig(config("0"), "config.json").config().identityExperts());
        assertEquals(0, FamilyDetection.fromConfig(FamilyTest.JSON.readTree("""
                {"model_type": "longcat_flash", "n_routed_experts": 8, "expert_ffn_hidden_size": 32,
                 "hidden_size": 64}"""), "config.json").config().identityExperts());
    }

    private static com.fasterxml.jackson.databind.JsonNode config(String zeroExperts) throws IOException {
        return FamilyTest.JSON.readTree("{\"model_type\": \"longcat_flash\", \"n_routed_experts\": 8, "
                + "\"expert_ffn_hidden_size\": 32, \"hidden_size\": 64, \"zero_expert_num\": " + zeroExperts + "}");
    }

    @Test
    void theIdentityExpertTensorsPassThroughOnEveryRankAndComeBackByteForByte() {
        Map<String, Tensor> hf = FixtureCheckpoint.load(FixtureCheckpoint.dir("families/longcat_flash"));
        DetectedModel model = longcat();
        for (int world : new int[] {1, 3}) {
            for (int rank = 0; rank < world; rank++) {
                MoeStateDictAdapter adapter = model.adapter();
                Map<String, Tensor> grouped = adapter.fromHf(new LinkedHashMap<>(hf),
                        FromHfOptions.defaults().withMesh(DeviceMesh.expertParallel(world, rank)));
                String where = "rank " + rank + " of " + world;
                for (String key : IDENTITY_KEYS) {
                    assertSameBytes(hf.get(key), grouped.get(key), key + " on " + where);
                }
                long local = 8 / world + (rank < 8 % world ? 1 : 0);
                assertEquals(local, grouped.get(LAYER0 + "gate_and_up_projs").size(0), where);
                assertEquals(local, grouped.get(LAYER0 + "down_projs").size(0), where);
                assertFalse(grouped.containsKey(LAYER0 + "0.gate_proj.weight"), where);
                assertSameBytes(hf.get("model.layers.0.mlp.router.classifier.weight"),
                        grouped.get("model.layers.0.mlp.router.classifier.weight"), "the router of E + Z");
                if (world == 1) {
                    assertSameStateDict(hf, adapter.toHf(grouped, ToHfOptions.defaults()));
                }
            }
        }
    }
}
