package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.family.FamilyDetection;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The tiny checkpoints transformers 5 saved for each family in the table (scripts/make-family-fixtures.py): grouped
 * exactly as the reference formula says, on one rank and on an uneven three, and restored byte for byte.
 */
class FamilyFixturesTest {
    private static Path family(String modelType) {
        return Fixtures.ROOT.resolve("families").resolve(modelType);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen2_moe", "qwen3_moe", "qwen3_next", "qwen3_5_moe_text", "olmoe",
            "glm4_moe", "deepseek_v2", "deepseek_v3", "deepseek_v32", "kimi_k2", "ernie4_5_moe", "dots1",
            "hunyuan_v1_moe", "mixtral", "minimax", "minimax_m2", "phimoe", "nemotron_h"})
    void groupsAsTheReferenceFormulaOnEveryRankAndComesBackByteForByte(String modelType, @TempDir Path dir) {
        Path in = family(modelType);
        ModelFamily family = ModelFamily.ofModelType(modelType).orElseThrow();
        InspectReport inspected = MoeConvert.inspect(in);
        assertEquals(modelType, inspected.family());
        assertEquals("config.json", inspected.detectedFrom());
        assertTrue(inspected.valid(), inspected.problems().toString());

        Path whole = dir.resolve("whole");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, whole));
        assertReferenceFormula(in, whole, family.naming(), 0, inspected.numExperts(), inspected.intermediate(),
                inspected.gated());

        Path ranks = dir.resolve("ranks");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(in, ranks).withRanks(RankSelection.all(3)));
        for (ConversionReport.WrittenCheckpoint rank : report.outputs()) {
            assertReferenceFormula(in, rank.path(), family.naming(), rank.expertStart(), rank.expertEnd(),
                    inspected.intermediate(), inspected.gated());
        }
        Path back = dir.resolve("back");
        MoeConvert.toHf(ToHfRequest.of(List.of(ranks), back));
        CheckpointFiles.assertSameTensors(in, back);
    }

    /**
     * {@code gate_and_up_projs[e] = cat(gate_eᵀ, up_eᵀ, -1)} (non-gated, as Nemotron-H's relu² experts:
     * {@code up_eᵀ} alone) and {@code down_projs[e] = down_eᵀ} for the experts [start, end) of every layer, element by
     * element, under the family's own segment.
     */
    private static void assertReferenceFormula(Path hf, Path grouped, ExpertNaming naming, int start, int end,
                                               long inter, boolean gated) {
        try (Checkpoint h = Checkpoint.open(hf); Checkpoint g = Checkpoint.open(grouped)) {
            int layers = 0;
            for (String key : g.keys()) {
                if (!key.endsWith("." + naming.segment() + ".gate_and_up_projs")) {
                    continue;
                }
                layers++;
                String layer = key.substring(0, key.length() - ".gate_and_up_projs".length());
                Tensor gu = g.tensor(key);
                Tensor down = g.tensor(layer + ".down_projs");
                assertEquals(end - start, gu.size(0), key);
                assertEquals(gated ? 2 * inter : inter, gu.size(2), key);
                long upAt = gated ? inter : 0;
                for (int e = start; e < end; e++) {
                    Tensor up = h.tensor(layer + "." + e + "." + naming.up() + ".weight");
                    Tensor gate = gated ? h.tensor(layer + "." + e + "." + naming.gate() + ".weight") : null;
                    Tensor d = h.tensor(layer + "." + e + "." + naming.down() + ".weight");
                    for (long i = 0; i < inter; i++) {
                        for (long x = 0; x < up.size(1); x++) {
                            if (gated) {
                                assertEquals(gate.getBits(i, x), gu.getBits(e - start, x, i), key + " gate " + e);
                            }
                            assertEquals(up.getBits(i, x), gu.getBits(e - start, x, upAt + i), key + " up " + e);
                            assertEquals(d.getBits(x, i), down.getBits(e - start, i, x), key + " down " + e);
                        }
                    }
                }
            }
            assertTrue(layers > 0, "no grouped layer in " + grouped);
            assertTrue(g.keys().stream().noneMatch(k -> naming.parsePerExpert(k) != null), "per-expert keys left");
        }
    }

    /**
     * Qwen3.5-MoE as its multimodal checkpoints are: the language model's sizes in a nested text_config, its tensors
     * under {@code model.language_model.}; the prefix is kept and the sizes are read from the nested config.
     */
    @Test
    void aNestedTextConfigAndALanguageModelPrefixAreRead(@TempDir Path dir) throws Exception {
        Path text = family("qwen3_5_moe_text");
        Path in = Files.createDirectories(dir.resolve("qwen3_5_moe"));
        try (Checkpoint c = Checkpoint.open(text)) {
            java.util.Map<String, Tensor> renamed = new java.util.LinkedHashMap<>();
            c.keys().forEach(k -> renamed.put(k.replaceFirst("^model\\.", "model.language_model."), c.tensor(k).contiguousCopy()));
            dev.moeshard.safetensors.ShardedCheckpointWriter.write(in, renamed, Long.MAX_VALUE, Map.of("format", "pt"));
        }
        String textConfig = Files.readString(text.resolve("config.json"));
        Files.writeString(in.resolve("config.json"), "{\"model_type\": \"qwen3_5_moe\", \"text_config\": " + textConfig + "}");
        InspectReport report = MoeConvert.inspect(in);
        assertEquals("qwen3_5_moe", report.family());
        assertEquals(8, report.numExperts());
        assertTrue(report.expertLayers().getFirst().startsWith("model.language_model.layers."), report.expertLayers().toString());
        Path out = dir.resolve("out");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withRanks(RankSelection.all(3)));
        assertReferenceFormula(in, out.resolve("ep-rank-2"), ExpertNaming.DEFAULT, 6, 8, report.intermediate(), true);
        MoeConvert.toHf(ToHfRequest.of(List.of(out), dir.resolve("back")));
        CheckpointFiles.assertSameTensors(in, dir.resolve("back"));
    }

    @Test
    void aModelTypeTheTableDoesNotKnowProceedsWithTheNamingItsTensorsUse(@TempDir Path dir) throws Exception {
        Path in = Fixtures.copy("qwen3_moe", dir);
        Path config = in.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"qwen3_moe\"", "\"qwen9_moe\""));
        InspectReport report = MoeConvert.inspect(in);
        assertTrue(report.detectedFrom().contains("qwen9_moe") && report.detectedFrom().contains("mlp.experts"),
                report.detectedFrom());
        Path out = dir.resolve("out");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, out));
        MoeConvert.toHf(ToHfRequest.of(List.of(out), dir.resolve("back")));
        CheckpointFiles.assertSameTensors(in, dir.resolve("back"));
    }

    @Test
    void aFamilyNamedWinsOverConfigJson(@TempDir Path dir) throws Exception {
        Path in = Fixtures.copy("qwen3_moe", dir);
        Path config = in.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"qwen3_moe\"", "\"kimi_k2_custom\""));
        Path out = dir.resolve("out");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withModel("deepseek_v3"));
        assertTrue(report.decisions().getFirst().contains("deepseek_v3"), report.decisions().toString());
        assertTrue(Files.exists(out.resolve("model.safetensors")));
    }

    /**
     * Llama-4 keeps its experts grouped on disk in DeepEP's orientation ({@code gate_up_proj} [E, H, 2I], gate
     * columns first; {@code down_proj} [E, I, H]): to-grouped renames them and cuts them per rank, byte for byte,
     * and to-hf restores the input. The orientation was checked against transformers' own experts module
     * (scripts/check-llama4-orientation.py on this fixture: relative error 0 with the gate columns first, 0.19 with
     * them second), which needs transformers and so does not run here.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama4_text", "llama4"})
    void llama4IsRenamedAndCutPerRankAndComesBackByteForByte(String modelType, @TempDir Path dir) {
        Path in = family(modelType);
        InspectReport inspected = MoeConvert.inspect(in);
        assertEquals(List.of("model.layers.0", "model.layers.1"), inspected.expertLayers());
        Path out = dir.resolve("out");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withRanks(RankSelection.all(3)));
        assertCutPerRank(in, report, Map.of(
                "model.layers.1.feed_forward.experts.gate_up_proj", "model.layers.1.feed_forward.experts.gate_and_up_projs",
                "model.layers.1.feed_forward.experts.down_proj", "model.layers.1.feed_forward.experts.down_projs"),
                List.of("model.layers.0.feed_forward.shared_expert.gate_proj.weight"));
        MoeConvert.toHf(ToHfRequest.of(List.of(out), dir.resolve("back")));
        CheckpointFiles.assertSameTensors(in, dir.resolve("back"));
        assertTrue(MoeConvert.verify(VerifyRequest.of(in, List.of(out))).identical());
    }

    /**
     * Granite MoE keeps its experts grouped on disk in the transformers-v5 orientation ({@code input_linear}
     * [E, 2I, H], gate rows first, as transformers 5.17's GraniteMoeExperts chunks {@code linear(x, w)}; and
     * {@code output_linear} [E, H, I]): to-grouped into hf-v5 renames and cuts them per rank, the router stays whole
     * on every rank, and to-hf restores the input byte for byte. (Other layouts: OnDiskFamiliesIntoEveryLayoutTest.)
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"granitemoe", "granitemoeshared"})
    void graniteIsRenamedIntoHfV5AndCutPerRankAndComesBackByteForByte(String modelType, @TempDir Path dir) {
        Path in = family(modelType);
        Path out = dir.resolve("out");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withRanks(RankSelection.all(3))
                .withLayout(dev.moeshard.moe.GroupedLayout.HF_V5));
        assertCutPerRank(in, report, Map.of(
                "model.layers.1.block_sparse_moe.input_linear.weight", "model.layers.1.block_sparse_moe.experts.gate_up_proj",
                "model.layers.1.block_sparse_moe.output_linear.weight", "model.layers.1.block_sparse_moe.experts.down_proj"),
                List.of("model.layers.1.block_sparse_moe.router.layer.weight"));
        MoeConvert.toHf(ToHfRequest.of(List.of(out), dir.resolve("back")));
        CheckpointFiles.assertSameTensors(in, dir.resolve("back"));
    }

    /**
     * Qwen3-VL-MoE, as transformers 5.17 saves it, is the hf-v5 layout itself under {@code model.language_model.}
     * ({@code mlp.experts.gate_up_proj} [E, 2I, H], gate rows first as its experts module chunks it; {@code down_proj}
     * [E, H, I]) with the sizes in text_config: cut per rank as it is, the vision tower and the router whole.
     */
    @Test
    void qwen3VlMoeIsCutPerRankAsItIsAndComesBackByteForByte(@TempDir Path dir) {
        Path in = family("qwen3_vl_moe");
        InspectReport inspected = MoeConvert.inspect(in);
        assertEquals(24, inspected.intermediate());
        Path out = dir.resolve("out");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withRanks(RankSelection.all(3))
                .withLayout(dev.moeshard.moe.GroupedLayout.HF_V5));
        String experts = "model.language_model.layers.1.mlp.experts.";
        assertCutPerRank(in, report, Map.of(experts + "gate_up_proj", experts + "gate_up_proj",
                experts + "down_proj", experts + "down_proj"), List.of("model.language_model.layers.1.mlp.gate.weight"));
        MoeConvert.toHf(ToHfRequest.of(List.of(out), dir.resolve("back")));
        CheckpointFiles.assertSameTensors(in, dir.resolve("back"));
    }

    /**
     * Nemotron-H's experts are non-gated (ReLU²), and transformers 5 holds them as {@code mixer.experts.up_proj}
     * [E, I, H] and {@code down_proj} [E, H, I]: its hf-v5 output is exactly that on every rank (each expert's
     * weights stacked as they are), restored byte for byte by to-hf; saved so without a moeshard.json, as
     * transformers writes it, it converts as the original does.
     */
    @Test
    void nemotronHsHfV5IsUpProjAloneAsTransformersHoldsIt(@TempDir Path dir) throws Exception {
        Path in = family("nemotron_h");
        Path out = dir.resolve("out");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withRanks(RankSelection.all(3))
                .withLayout(dev.moeshard.moe.GroupedLayout.HF_V5));
        try (Checkpoint h = Checkpoint.open(in)) {
            for (ConversionReport.WrittenCheckpoint rank : report.outputs()) {
                try (Checkpoint g = Checkpoint.open(rank.path())) {
                    for (int layer : List.of(1, 4)) {
                        String experts = "backbone.layers." + layer + ".mixer.experts.";
                        assertFalse(g.contains(experts + "gate_up_proj"), rank.path().toString());
                        for (int e = rank.expertStart(); e < rank.expertEnd(); e++) {
                            int local = e - rank.expertStart();
                            for (String p : List.of("up_proj", "down_proj")) {
                                assertEquals(-1, h.tensor(experts + e + "." + p + ".weight").segment().mismatch(
                                        g.tensor(experts + p).select(0, local).segment()), experts + p + " " + e);
                            }
                        }
                    }
                }
            }
        }
        MoeConvert.toHf(ToHfRequest.of(List.of(out), dir.resolve("back")));
        CheckpointFiles.assertSameTensors(in, dir.resolve("back"));

        Path saved = dir.resolve("saved");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, saved).withLayout(dev.moeshard.moe.GroupedLayout.HF_V5));
        Files.delete(saved.resolve(GroupedManifest.FILE_NAME));
        MoeConvert.toGrouped(ToGroupedRequest.of(saved, dir.resolve("deepep-of-saved")));
        MoeConvert.toGrouped(ToGroupedRequest.of(in, dir.resolve("deepep-of-input")));
        CheckpointFiles.assertSameTensors(dir.resolve("deepep-of-input"), dir.resolve("deepep-of-saved"));
    }

    /**
     * {@code up_proj} alone is how transformers 5 holds non-gated experts; beside a gated model's config it cannot
     * be cut into gate and up, and to-grouped refuses it, naming the tensor, before anything is written.
     */
    @Test
    void anUpProjFusedTensorInAGatedModelIsRefused(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in");
        Files.createDirectories(in);
        for (String f : List.of("config.json", "model.safetensors")) {
            Files.copy(family("qwen3_moe").resolve(f), in.resolve(f));
        }
        InspectReport inspected = MoeConvert.inspect(in);
        CheckpointFiles.addTensor(in, "model.layers.0.mlp.experts.up_proj", Tensor.allocate(
                dev.moeshard.tensor.DType.BF16, inspected.numExperts(), inspected.intermediate(), inspected.hidden()));
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(in, dir.resolve("out"))));
        assertTrue(e.problems().stream().anyMatch(p -> p.startsWith("model.layers.0.mlp.experts.up_proj: transformers 5"
                + " names non-gated experts up_proj, but the model is gated")), e.problems().toString());
        assertFalse(Files.exists(dir.resolve("out")));
    }

    /**
     * Each rank's grouped tensor (value) holds exactly the rank's experts' rows of the input's (key), and every tensor
     * of {@code whole} is on every rank unchanged.
     */
    private static void assertCutPerRank(Path in, ConversionReport report, Map<String, String> cut,
                                         List<String> whole) {
        try (Checkpoint h = Checkpoint.open(in)) {
            for (ConversionReport.WrittenCheckpoint rank : report.outputs()) {
                long n = rank.expertEnd() - rank.expertStart();
                try (Checkpoint g = Checkpoint.open(rank.path())) {
                    cut.forEach((from, to) -> assertEquals(-1, h.tensor(from).narrow(0, rank.expertStart(), n)
                            .segment().mismatch(g.tensor(to).segment()), from + " on " + rank.path()));
                    whole.forEach(key -> assertEquals(-1, h.tensor(key).segment().mismatch(g.tensor(key).segment()),
                            key + " stays whole"));
                }
            }
        }
    }

    /** LongCat-Flash's 8 tensors under identity experts 8 and 9: gate and up, in layers 0 and 1. */
    private static final List<String> LONGCAT_IDENTITY_KEYS = List.of(0, 1).stream().flatMap(l -> List.of(8, 9).stream()
            .flatMap(e -> List.of("gate_proj", "up_proj").stream()
                    .map(p -> "model.layers." + l + ".mlp.experts." + e + "." + p + ".weight"))).toList();

    /**
     * LongCat-Flash as transformers 5 saves it: 8 routed experts and {@code zero_expert_num} 2 identity experts, whose
     * ids hold the gate and up rows of the fused {@code gate_up_proj} [E + Z, 2I, H] that the forward never reads (no
     * down projection; see ModelFamily.LONGCAT_FLASH). The routed experts are grouped by the reference formula; the
     * identity experts' tensors are no routed experts and stay as they are on every rank, at EP 1 and an uneven EP 3.
     */
    @Test
    void longCatGroupsItsRoutedExpertsAndKeepsItsIdentityExpertsTensorsOnEveryRank(@TempDir Path dir) {
        Path in = family("longcat_flash");
        InspectReport inspected = MoeConvert.inspect(in);
        assertEquals("longcat_flash", inspected.family());
        assertTrue(inspected.valid(), inspected.problems().toString());
        assertEquals(8, inspected.numExperts());
        assertEquals(2 * 8 * 3, inspected.expertTensors(), "the identity experts' tensors are no expert tensors");

        // The routed experts' naming: the identity experts' ids are no per-expert keys to it.
        ExpertNaming naming = FamilyDetection.fromConfigFile(in.resolve("config.json")).naming();
        Path whole = dir.resolve("whole");
        ConversionReport one = MoeConvert.toGrouped(ToGroupedRequest.of(in, whole));
        assertTrue(one.decisions().contains("8 tensors under the 2 identity experts (ids 8 to 9, which compute "
                + "nothing) kept as they are on every rank: they are no routed experts"), one.decisions().toString());
        assertReferenceFormula(in, whole, naming, 0, 8, inspected.intermediate(), true);
        assertKept(in, whole, LONGCAT_IDENTITY_KEYS);

        Path ranks = dir.resolve("ranks");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(in, ranks).withRanks(RankSelection.all(3)));
        assertEquals(List.of(3, 3, 2), report.outputs().stream().map(r -> r.expertEnd() - r.expertStart()).toList());
        for (ConversionReport.WrittenCheckpoint rank : report.outputs()) {
            assertReferenceFormula(in, rank.path(), naming, rank.expertStart(), rank.expertEnd(),
                    inspected.intermediate(), true);
            assertKept(in, rank.path(), LONGCAT_IDENTITY_KEYS);
        }
        assertTrue(MoeConvert.verify(VerifyRequest.of(in, List.of(ranks))).identical());
        for (Path grouped : List.of(whole, ranks)) {
            Path back = dir.resolve("back-" + grouped.getFileName());
            MoeConvert.toHf(ToHfRequest.of(List.of(grouped), back));
            CheckpointFiles.assertSameTensors(in, back);
            assertEquals(CheckpointFiles.keys(in).size(), CheckpointFiles.keys(back).size(), "no tensor added");
        }
    }

    /**
     * A grouped LongCat checkpoint (one, not rank folders) is told grouped although its identity experts' tensors
     * have per-expert names and its router lies under {@code mlp.router.}: regrouped into vllm on two ranks, those
     * tensors stay on every rank, and to-hf restores the HF input.
     */
    @Test
    void aGroupedLongCatIsRegroupedKeepingItsIdentityExpertsTensors(@TempDir Path dir) {
        Path in = family("longcat_flash");
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, grouped));
        Path vllm = dir.resolve("vllm");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(grouped, vllm)
                .withLayout(dev.moeshard.moe.GroupedLayout.VLLM).withRanks(RankSelection.all(2)));
        assertEquals(2, report.outputs().size());
        for (ConversionReport.WrittenCheckpoint rank : report.outputs()) {
            assertKept(in, rank.path(), LONGCAT_IDENTITY_KEYS);
            assertTrue(CheckpointFiles.keys(rank.path()).contains("model.layers.1.mlp.experts.w13_weight"));
        }
        Path back = dir.resolve("back");
        MoeConvert.toHf(ToHfRequest.of(List.of(vllm), back));
        CheckpointFiles.assertSameTensors(in, back);
    }

    /**
     * GPT-OSS's experts are grouped on disk in its own interleaved layout, which to-grouped only renames (deepep) or
     * keeps under its own names (hf-v5, {@link GptOssHfV5Test}): the layouts that would rearrange them are refused
     * before anything is written.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"grouped", "vllm"})
    void gptOssInALayoutThatRearrangesItsExpertsIsRefused(String layout, @TempDir Path dir) {
        Path out = dir.resolve("out");
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> MoeConvert.toGrouped(
                ToGroupedRequest.of(family("gpt_oss"), out).withLayout(dev.moeshard.moe.GroupedLayout.ofName(layout))));
        assertEquals(List.of("--layout " + layout + ": gpt_oss's experts are grouped on disk already, gate and up"
                + " interleaved, and are only renamed and cut: use --layout deepep (the reference adapter's names) or"
                + " hf-v5 (the checkpoint's own names, as transformers 5 loads them)"), e.problems());
        assertFalse(Files.exists(out));
    }

    /** Every key of {@code keys} in {@code out} with the bytes it has in {@code in}. */
    private static void assertKept(Path in, Path out, List<String> keys) {
        try (Checkpoint h = Checkpoint.open(in); Checkpoint g = Checkpoint.open(out)) {
            for (String key : keys) {
                assertEquals(h.entry(key).dtype(), g.entry(key).dtype(), key);
                assertTrue(java.util.Arrays.equals(h.entry(key).shape(), g.entry(key).shape()), key);
                assertEquals(-1, h.tensor(key).segment().mismatch(g.tensor(key).segment()), key + " in " + out);
            }
        }
    }

    /**
     * What LongCat's config.json counts must fit its tensors: without {@code zero_expert_num} (or with too few)
     * the ids past E are experts beyond the model; with too many, a routed expert's down projection would lie under
     * an identity id. Either is refused before anything is written.
     */
    @Test
    void longCatsExpertCountsThatDoNotFitItsTensorsAreRefused(@TempDir Path dir) throws Exception {
        record Case(String from, String to, String expected) {}
        List<Case> cases = List.of(
                new Case("\"zero_expert_num\": 2", "\"zero_expert_num\": null",
                        "model.layers.0.mlp.experts.8.gate_proj.weight: expert 8 is beyond the model's 8 experts"),
                new Case("\"zero_expert_num\": 2", "\"zero_expert_num\": 1",
                        "model.layers.0.mlp.experts.9.gate_proj.weight: expert 9 is beyond the model's 8 experts and "
                                + "1 identity experts"),
                new Case("\"n_routed_experts\": 8", "\"n_routed_experts\": 7",
                        "model.layers.0.mlp.experts.7.down_proj.weight: a down projection under identity expert 7; "
                                + "ids [7, 9) are the 2 identity experts after the 7 routed ones"));
        for (Case c : cases) {
            Path in = Files.createDirectories(dir.resolve("in-" + cases.indexOf(c)));
            for (String file : List.of("model.safetensors", "config.json")) {
                Files.copy(family("longcat_flash").resolve(file), in.resolve(file));
            }
            Path config = in.resolve("config.json");
            String text = Files.readString(config);
            assertTrue(text.contains(c.from()), c.from());
            Files.writeString(config, text.replace(c.from(), c.to()));
            Path out = dir.resolve("out-" + cases.indexOf(c));
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withRanks(RankSelection.all(3))));
            assertTrue(e.problems().stream().anyMatch(p -> p.startsWith(c.expected())), e.problems().toString());
            assertFalse(Files.exists(out));
        }
    }
}
