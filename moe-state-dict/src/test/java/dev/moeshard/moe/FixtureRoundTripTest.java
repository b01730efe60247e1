package dev.moeshard.moe;

import static dev.moeshard.moe.testing.TensorAssertions.assertSameBytes;
import static dev.moeshard.moe.testing.TensorAssertions.assertSameStateDict;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.family.DetectedModel;
import dev.moeshard.moe.family.FamilyDetection;
import dev.moeshard.moe.family.GroupedOnDiskConversion;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.testing.FixtureCheckpoint;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.TensorOps;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** fromHf then toHf on the sample checkpoints gives back every tensor byte for byte, for 1, 2 and 3 EP ranks. */
class FixtureRoundTripTest {

    @ParameterizedTest(name = "{0} on {1} ranks")
    @CsvSource({"qwen3_moe, 1", "qwen3_moe, 2", "qwen3_moe, 3", "deepseek_v3, 1", "deepseek_v3, 2", "deepseek_v3, 3"})
    void perExpertCheckpointRoundTripsOnEveryRank(String fixture, int worldSize) throws IOException {
        Path dir = FixtureCheckpoint.dir(fixture);
        Map<String, Tensor> original = FixtureCheckpoint.load(dir);
        DetectedModel model = FamilyDetection.fromConfigFile(dir.resolve("config.json"));
        assertEquals(ModelFamily.Layout.PER_EXPERT, model.family().layout());
        int numExperts = model.config().numExperts();

        Map<String, Tensor> singleRank = model.adapter().fromHf(new LinkedHashMap<>(original));
        Map<String, Tensor> union = new LinkedHashMap<>();
        Map<String, List<Tensor>> groupedByKey = new LinkedHashMap<>();
        for (int rank = 0; rank < worldSize; rank++) {
            DeviceMesh mesh = DeviceMesh.expertParallel(worldSize, rank);
            ExpertRange range = ExpertRange.forMesh(mesh, numExperts);
            MoeStateDictAdapter adapter = model.adapter();
            Map<String, Tensor> grouped = adapter.fromHf(new LinkedHashMap<>(original), FromHfOptions.defaults().withMesh(mesh));
            for (Map.Entry<String, Tensor> e : grouped.entrySet()) {
                if (e.getKey().endsWith("_projs")) {
                    assertEquals(range.count(), e.getValue().size(0), e.getKey());
                    groupedByKey.computeIfAbsent(e.getKey(), k -> new ArrayList<>()).add(e.getValue());
                }
            }
            Map<String, Tensor> hf = adapter.toHf(grouped, ToHfOptions.defaults().withLocalExperts(range));
            for (Map.Entry<String, Tensor> e : hf.entrySet()) {
                Tensor previous = union.put(e.getKey(), e.getValue());
                if (previous != null) {
                    assertFalse(e.getKey().contains(".experts.") && !e.getKey().contains("shared_experts"),
                            "expert key " + e.getKey() + " came from two ranks");
                    assertSameBytes(previous, e.getValue(), e.getKey() + " on rank " + rank);
                }
            }
        }
        assertSameStateDict(original, union);
        // The ranks' grouped tensors, stacked in rank order, are the single-rank grouped tensors.
        assertEquals(singleRank.keySet().stream().filter(k -> k.endsWith("_projs")).toList(),
                List.copyOf(groupedByKey.keySet()));
        for (Map.Entry<String, List<Tensor>> e : groupedByKey.entrySet()) {
            assertSameBytes(singleRank.get(e.getKey()), TensorOps.cat(e.getValue(), 0), e.getKey());
        }
    }

    @ParameterizedTest(name = "gpt_oss on {0} ranks")
    @CsvSource({"1", "2", "3"})
    void gptOssRenamesAndSlicesExperts(int worldSize) throws IOException {
        Path dir = FixtureCheckpoint.dir("gpt_oss");
        Map<String, Tensor> original = FixtureCheckpoint.load(dir);
        DetectedModel model = FamilyDetection.fromConfigFile(dir.resolve("config.json"));
        assertEquals(ModelFamily.GPT_OSS, model.family());
        GroupedOnDiskConversion conversion = new GroupedOnDiskConversion(model.config().numExperts());

        Map<String, List<Tensor>> pieces = new LinkedHashMap<>();
        for (int rank = 0; rank < worldSize; rank++) {
            DeviceMesh mesh = DeviceMesh.expertParallel(worldSize, rank);
            Map<String, Tensor> grouped = conversion.fromHf(original, mesh);
            assertTrue(grouped.containsKey("model.layers.0.mlp.gate.weight"));
            assertTrue(grouped.containsKey("model.layers.0.mlp.gate.bias"));
            assertTrue(grouped.containsKey("model.layers.1.mlp.experts.gate_and_up_projs"));
            assertTrue(grouped.containsKey("model.layers.1.mlp.experts.down_projs"));
            assertTrue(grouped.containsKey("model.layers.1.mlp.experts.gate_up_proj_bias"));
            assertEquals(ExpertRange.forMesh(mesh, 8).count(),
                    grouped.get("model.layers.1.mlp.experts.down_proj_bias").size(0));
            conversion.toHf(grouped).forEach((k, v) -> pieces.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
        }
        Map<String, Tensor> gathered = new LinkedHashMap<>();
        pieces.forEach((k, v) -> gathered.put(k, k.contains(".mlp.experts.") ? TensorOps.cat(v, 0) : v.get(0)));
        assertSameStateDict(original, gathered);
    }
}
