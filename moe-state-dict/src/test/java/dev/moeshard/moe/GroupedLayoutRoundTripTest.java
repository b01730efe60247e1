package dev.moeshard.moe;

import static dev.moeshard.moe.testing.TensorAssertions.assertSameBytes;
import static dev.moeshard.moe.testing.TensorAssertions.assertSameStateDict;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.family.DetectedModel;
import dev.moeshard.moe.family.FamilyDetection;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.testing.FixtureCheckpoint;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every grouped layout round-trips the sample checkpoints on 1, 2 and 3 ranks, and converts to every other. */
class GroupedLayoutRoundTripTest {

    @ParameterizedTest(name = "{0} as {1} on {2} ranks")
    @CsvSource({
            "qwen3_moe, deepep, 1", "qwen3_moe, deepep, 2", "qwen3_moe, deepep, 3",
            "qwen3_moe, grouped, 1", "qwen3_moe, grouped, 2", "qwen3_moe, grouped, 3",
            "qwen3_moe, hf-v5, 1", "qwen3_moe, hf-v5, 2", "qwen3_moe, hf-v5, 3",
            "qwen3_moe, vllm, 1", "qwen3_moe, vllm, 2", "qwen3_moe, vllm, 3",
            "deepseek_v3, deepep, 1", "deepseek_v3, deepep, 2", "deepseek_v3, deepep, 3",
            "deepseek_v3, grouped, 1", "deepseek_v3, grouped, 2", "deepseek_v3, grouped, 3",
            "deepseek_v3, hf-v5, 1", "deepseek_v3, hf-v5, 2", "deepseek_v3, hf-v5, 3",
            "deepseek_v3, vllm, 1", "deepseek_v3, vllm, 2", "deepseek_v3, vllm, 3"})
    void roundTripsWithPerExpertOnEveryRank(String fixture, String layoutName, int worldSize) {
        Path dir = FixtureCheckpoint.dir(fixture);
        Map<String, Tensor> original = FixtureCheckpoint.load(dir);
        DetectedModel model = FamilyDetection.fromConfigFile(dir.resolve("config.json"));
        GroupedLayout layout = GroupedLayout.ofName(layoutName);
        MoeConfig config = model.config();
        Map<String, Tensor> union = new LinkedHashMap<>();
        for (int rank = 0; rank < worldSize; rank++) {
            DeviceMesh mesh = DeviceMesh.expertParallel(worldSize, rank);
            ExpertRange range = ExpertRange.forMesh(mesh, config.numExperts());
            MoeStateDictAdapter adapter = model.adapter(layout);
            Map<String, Tensor> grouped = adapter.fromHf(new LinkedHashMap<>(original), FromHfOptions.defaults().withMesh(mesh));
            int layers = 0;
            for (Map.Entry<String, Tensor> e : grouped.entrySet()) {
                GroupedLayout.Key k = layout.parse(adapter.naming(), e.getKey());
                if (k != null) {
                    assertArrayEquals(layout.shape(k.name(), range.count(), config), e.getValue().sizes(), e.getKey());
                    layers++;
                }
            }
            assertTrue(layers > 0, "no " + layoutName + " tensors");
            assertEquals(Optional.of(layout), GroupedLayoutDetection.detect(shapesOf(grouped), adapter.naming(), config, null));
            adapter.toHf(grouped, ToHfOptions.defaults().withLocalExperts(range)).forEach(union::put);
        }
        assertSameStateDict(original, union);
    }

    @ParameterizedTest(name = "{0}: {1} to {2} on {3} ranks")
    @CsvSource({
            "qwen3_moe, deepep, grouped, 1", "qwen3_moe, grouped, deepep, 2", "qwen3_moe, hf-v5, deepep, 3",
            "qwen3_moe, deepep, vllm, 2", "qwen3_moe, vllm, hf-v5, 1", "qwen3_moe, grouped, vllm, 3",
            "deepseek_v3, hf-v5, grouped, 2", "deepseek_v3, deepep, hf-v5, 3", "deepseek_v3, vllm, deepep, 1",
            "deepseek_v3, grouped, hf-v5, 2"})
    void layoutToLayoutEqualsTheRoundTripThroughPerExpert(String fixture, String fromName, String toName, int worldSize) {
        Path dir = FixtureCheckpoint.dir(fixture);
        Map<String, Tensor> original = FixtureCheckpoint.load(dir);
        DetectedModel model = FamilyDetection.fromConfigFile(dir.resolve("config.json"));
        GroupedLayout from = GroupedLayout.ofName(fromName);
        GroupedLayout to = GroupedLayout.ofName(toName);
        Map<String, Tensor> source = model.adapter(from).fromHf(new LinkedHashMap<>(original));
        for (int rank = 0; rank < worldSize; rank++) {
            FromHfOptions options = FromHfOptions.defaults().withMesh(DeviceMesh.expertParallel(worldSize, rank));
            Map<String, Tensor> direct = model.adapter(to).regroup(source, from, options);
            Map<String, Tensor> viaHf = model.adapter(to).fromHf(
                    model.adapter(from).toHf(source, ToHfOptions.defaults()), options);
            assertEquals(viaHf.keySet(), direct.keySet());
            viaHf.forEach((k, v) -> assertSameBytes(v, direct.get(k), k));
        }
    }

    @ParameterizedTest(name = "down_projs alone, H = I, recorded {0}")
    @CsvSource({"deepep", "grouped", "''"})
    void downProjsAloneWithEqualSizesNeedsTheManifestOrLayout(String recorded) {
        MoeConfig square = new MoeConfig(4, 16, 16, true);
        Map<String, long[]> shapes = Map.of("model.layers.0.mlp.experts.down_projs", new long[] {4, 16, 16});
        GroupedLayout hint = recorded.isEmpty() ? null : GroupedLayout.ofName(recorded);
        if (hint != null) {
            assertEquals(Optional.of(hint), GroupedLayoutDetection.detect(shapes, ExpertNaming.DEFAULT, square, hint));
        } else {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> GroupedLayoutDetection.detect(shapes, ExpertNaming.DEFAULT, square, null));
            assertTrue(e.getMessage().contains("--layout deepep|grouped"), e.getMessage());
        }
        // The other tensors of the layer settle it, and so do unequal sizes.
        Map<String, long[]> withUp = Map.of("model.layers.0.mlp.experts.down_projs", new long[] {4, 16, 16},
                "model.layers.0.mlp.experts.up_projs", new long[] {4, 16, 16},
                "model.layers.0.mlp.experts.gate_projs", new long[] {4, 16, 16});
        assertEquals(Optional.of(GroupedLayout.GROUPED), GroupedLayoutDetection.detect(withUp, ExpertNaming.DEFAULT, square, null));
        MoeConfig wide = new MoeConfig(4, 32, 16, true);
        assertEquals(Optional.of(GroupedLayout.DEEPEP), GroupedLayoutDetection.detect(
                Map.of("model.layers.0.mlp.experts.down_projs", new long[] {4, 16, 32}), ExpertNaming.DEFAULT, wide, null));
        assertEquals(Optional.of(GroupedLayout.GROUPED), GroupedLayoutDetection.detect(
                Map.of("model.layers.0.mlp.experts.down_projs", new long[] {4, 32, 16}), ExpertNaming.DEFAULT, wide, null));
    }

    private static Map<String, long[]> shapesOf(Map<String, Tensor> stateDict) {
        Map<String, long[]> out = new LinkedHashMap<>();
        stateDict.forEach((k, v) -> out.put(k, v.sizes()));
        return out;
    }
}
