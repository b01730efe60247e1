package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.GroupedLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link MoeConvert#inspect} reports the family, the expert layers, the experts and their sizes, from headers. */
class InspectTest {

    @Test
    void qwen3MoeIsEightGatedExpertsInTwoLayers() {
        InspectReport r = MoeConvert.inspect(Fixtures.of("qwen3_moe"));
        assertEquals("qwen3_moe", r.family());
        assertEquals("config.json", r.detectedFrom());
        assertEquals("per-expert", r.layout());
        assertEquals(8, r.numExperts());
        assertEquals(64, r.hidden());
        assertEquals(32, r.intermediate());
        assertTrue(r.gated());
        assertEquals(List.of("model.layers.0", "model.layers.1"), r.expertLayers());
        assertEquals(List.of("gate_proj", "up_proj", "down_proj"), r.projections());
        assertEquals(Map.of(), r.missingExperts());
        assertEquals(2 * 8 * 3, r.expertTensors());
        assertEquals(CheckpointFiles.keys(Fixtures.of("qwen3_moe")).size(), r.tensors());
        assertEquals(CheckpointFiles.tensorBytes(Fixtures.of("qwen3_moe")), r.totalBytes());
        assertEquals(Map.of("BF16", r.tensors()), r.dtypes());
        assertTrue(r.valid(), r.problems().toString());
    }

    @Test
    void deepseekV3SkipsItsDenseFirstLayerAndListsBothShards() {
        InspectReport r = MoeConvert.inspect(Fixtures.of("deepseek_v3"));
        assertEquals("deepseek_v3", r.family());
        assertEquals(8, r.numExperts());
        assertEquals(List.of("model.layers.1", "model.layers.2"), r.expertLayers());
        assertEquals(List.of("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"), r.files());
        assertEquals(2 * 8 * 3, r.expertTensors());
        assertTrue(r.valid(), r.problems().toString());
    }

    @Test
    void gptOssIsItsOwnGroupedLayout() {
        InspectReport r = MoeConvert.inspect(Fixtures.of("gpt_oss"));
        assertEquals("gpt_oss", r.family());
        assertEquals(8, r.numExperts());
        assertEquals("gpt-oss grouped", r.layout());
        assertEquals(List.of("model.layers.0", "model.layers.1"), r.expertLayers());
        assertEquals(2 * 4, r.expertTensors()); // gate_up_proj, down_proj and their biases
    }

    /**
     * A checkpoint as transformers 5 saves it with {@code save_original_format=False} (here the hf-v5 output without
     * the manifest that marks it grouped) reports its layers and its fused expert tensors, two a layer.
     */
    @Test
    void aTransformersV5CheckpointShowsItsLayersAndFusedExperts(@TempDir Path dir) throws java.io.IOException {
        Path v5 = dir.resolve("v5");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), v5).withLayout(GroupedLayout.HF_V5));
        java.nio.file.Files.delete(v5.resolve(GroupedManifest.FILE_NAME));
        InspectReport r = MoeConvert.inspect(v5);
        assertEquals("hf-v5 (transformers v5 fused)", r.layout());
        assertEquals(List.of("model.layers.0", "model.layers.1"), r.expertLayers());
        assertEquals(2 * 2, r.expertTensors());
        assertTrue(r.valid(), r.problems().toString());
    }

    /** Its deepep output, its tensors renamed, is still that layout, on one rank as on several. */
    @ParameterizedTest(name = "ep size {0}")
    @ValueSource(ints = {0, 2})
    void gptOssRenamedIsStillItsOwnGroupedLayout(int epSize, @TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("gpt_oss"), grouped)
                .withRanks(epSize == 0 ? RankSelection.none() : RankSelection.all(epSize)));
        InspectReport r = MoeConvert.inspect(grouped);
        assertEquals("gpt-oss grouped", r.layout());
        assertEquals(List.of("model.layers.0", "model.layers.1"), r.expertLayers());
        assertEquals(List.of(), r.problems());
    }

    @ParameterizedTest(name = "{0}")
    // the named layouts: hf-v5's forms are for the families that have them
    @EnumSource(value = GroupedLayout.class, names = {"HF_V5_TRANSPOSED", "HF_V5_UP"},
            mode = EnumSource.Mode.EXCLUDE)
    void aGroupedRankShowsItsLayoutAndTheModelsExperts(GroupedLayout layout, @TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), grouped).withLayout(layout)
                .withRanks(RankSelection.all(3)));
        InspectReport r = MoeConvert.inspect(grouped.resolve("ep-rank-1"));
        assertEquals("qwen3_moe", r.family());
        assertTrue(r.layout().startsWith(layout.cliName()), r.layout());
        assertEquals(8, r.numExperts());
        assertEquals(CheckpointFiles.keys(grouped.resolve("ep-rank-1")).size(), r.tensors());
    }

    @Test
    void missingExpertsAreListedPerLayerAndMakeTheCheckpointInvalid(@TempDir Path dir) {
        Path input = Fixtures.copy("qwen3_moe", dir);
        CheckpointFiles.removeTensors(input, List.of(
                "model.layers.0.mlp.experts.2.gate_proj.weight", "model.layers.0.mlp.experts.2.up_proj.weight",
                "model.layers.0.mlp.experts.2.down_proj.weight",
                "model.layers.1.mlp.experts.5.gate_proj.weight", "model.layers.1.mlp.experts.5.up_proj.weight",
                "model.layers.1.mlp.experts.5.down_proj.weight",
                "model.layers.1.mlp.experts.7.up_proj.weight"));
        InspectReport r = MoeConvert.inspect(input);
        assertEquals(Map.of("model.layers.0", List.of(2), "model.layers.1", List.of(5)), r.missingExperts());
        assertFalse(r.valid());
        assertTrue(r.problems().stream().anyMatch(p -> p.contains("model.layers.1.mlp.experts.7.up_proj.weight")),
                r.problems().toString());
    }
}
