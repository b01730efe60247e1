package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.family.GroupedOnDiskConversion;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * GPT-OSS written as hf-v5 is the checkpoint's own tensors under their own names, which is what transformers 5 loads:
 * on one rank the input's tensors byte for byte, on several each rank's experts' rows of every expert tensor. to-hf,
 * verify and inspect read it by the layout its moeshard.json records, without the deepep output's renames. Both
 * GPT-OSS fixtures (8 experts; I = 32, and the family fixture's I = 96) and an MXFP4 one.
 */
class GptOssHfV5Test {
    private static final int EXPERTS = 8;
    private static final ObjectMapper JSON = new ObjectMapper();

    static Stream<String> fixtures() {
        return Stream.of("gpt_oss", "families/gpt_oss");
    }

    /** Each fixture on one rank (0: no expert parallelism) and on three (3/3/2 experts). */
    static Stream<Arguments> fixturesAndSizes() {
        return fixtures().flatMap(f -> Stream.of(Arguments.of(f, 0), Arguments.of(f, 3)));
    }

    /** Each fixture on two ranks (4/4 experts) and on three (3/3/2). */
    static Stream<Arguments> fixturesOnSeveralRanks() {
        return fixtures().flatMap(f -> Stream.of(Arguments.of(f, 2), Arguments.of(f, 3)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void onOneRankTheOutputHoldsExactlyTheInputsTensors(String fixture, @TempDir Path dir) {
        Path in = Fixtures.of(fixture);
        Path out = dir.resolve("hf-v5");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withLayout(GroupedLayout.HF_V5));
        CheckpointFiles.assertSameTensors(in, out);
        assertTrue(report.decisions().contains("input grouped on disk written as hf-v5"), report.decisions().toString());
        GroupedManifest manifest = GroupedRanks.readManifest(out).orElseThrow();
        assertEquals("hf-v5", manifest.layout());
        assertEquals(0, manifest.expertStart());
        assertEquals(EXPERTS, manifest.expertEnd());
    }

    @ParameterizedTest(name = "{0} on ep size {1}")
    @MethodSource("fixturesOnSeveralRanks")
    void eachRankHoldsItsExpertsRowsByteForByte(String fixture, int epSize, @TempDir Path dir) {
        Path input = Fixtures.of(fixture);
        Path out = dir.resolve("hf-v5");
        MoeConvert.toGrouped(ToGroupedRequest.of(input, out).withLayout(GroupedLayout.HF_V5)
                .withRanks(RankSelection.all(epSize)));
        for (int r = 0; r < epSize; r++) {
            Path rank = out.resolve("ep-rank-" + r);
            ExpertRange range = ExpertRange.forRank(r, epSize, EXPERTS);
            try (Checkpoint in = Checkpoint.open(input); Checkpoint got = Checkpoint.open(rank)) {
                assertEquals(new TreeSet<>(in.keys()), new TreeSet<>(got.keys()), rank + ": keys");
                for (String key : in.keys()) {
                    Tensor want = in.tensor(key);
                    if (ModelFamily.GPT_OSS.isOnDiskExpertKey(key)) {
                        want = want.narrow(0, range.start(), range.count());
                    }
                    assertSame(want, got.tensor(key), rank + ": " + key);
                }
                assertArrayEquals(new long[] {EXPERTS, 64}, got.entry("model.layers.0.mlp.router.weight").shape(),
                        "the router stays whole");
            }
            GroupedManifest manifest = GroupedRanks.readManifest(rank).orElseThrow();
            assertEquals("hf-v5", manifest.layout());
            assertEquals(range.start(), manifest.expertStart());
            assertEquals(range.end(), manifest.expertEnd());
        }
    }

    @ParameterizedTest(name = "{0} on ep size {1}")
    @MethodSource("fixturesAndSizes")
    void toHfRestoresTheInputByteForByteAndVerifyFindsItIdentical(String fixture, int epSize, @TempDir Path dir) {
        Path in = Fixtures.of(fixture);
        Path out = dir.resolve("hf-v5");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withLayout(GroupedLayout.HF_V5)
                .withRanks(epSize == 0 ? RankSelection.none() : RankSelection.all(epSize)));
        VerifyReport verify = MoeConvert.verify(VerifyRequest.of(in, List.of(out)));
        assertTrue(verify.identical(), verify.differences().toString());
        Path back = dir.resolve("back");
        ConversionReport report = MoeConvert.toHf(ToHfRequest.of(List.of(out), back));
        CheckpointFiles.assertSameTensors(in, back);
        assertTrue(report.decisions().getFirst().endsWith(" in hf-v5"), report.decisions().toString());
    }

    @ParameterizedTest(name = "{0} on ep size {1}")
    @MethodSource("fixturesAndSizes")
    void inspectReportsTheHfV5Layout(String fixture, int epSize, @TempDir Path dir) {
        Path out = dir.resolve("hf-v5");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of(fixture), out).withLayout(GroupedLayout.HF_V5)
                .withRanks(epSize == 0 ? RankSelection.none() : RankSelection.all(epSize)));
        InspectReport r = MoeConvert.inspect(out);
        assertEquals("gpt_oss", r.family());
        assertEquals("hf-v5 (gpt_oss's own tensors and names, as transformers 5 loads them)", r.layout());
        assertEquals(List.of("model.layers.0", "model.layers.1"), r.expertLayers());
        assertEquals(EXPERTS, r.numExperts());
        assertEquals(List.of(), r.problems());
        assertEquals(epSize == 0 ? 1 : epSize, r.ranks().size(), r.ranks().toString());
    }

    /**
     * MXFP4 experts are decoded (BF16) under their weights' own names, config.json loses its quantization_config, and
     * to-hf of the ranks gives the decoded checkpoint, the one-rank output, back.
     */
    @Test
    void mxfp4ExpertsAreDecodedUnderTheirOwnNames(@TempDir Path dir) throws IOException {
        Path in = Mxfp4Checkpoints.write(dir, false, false);
        ObjectNode config = (ObjectNode) JSON.readTree(in.resolve("config.json").toFile());
        config.putObject("quantization_config").put("quant_method", "mxfp4");
        JSON.writeValue(in.resolve("config.json").toFile(), config);
        Path whole = dir.resolve("whole");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, whole).withLayout(GroupedLayout.HF_V5));
        try (Checkpoint input = Checkpoint.open(in); Checkpoint got = Checkpoint.open(whole)) {
            Map<String, Tensor> want = new GroupedOnDiskConversion(ModelFamily.GPT_OSS, EXPERTS, GroupedLayout.HF_V5)
                    .fromHf(input.tensors(), null, DType.BF16);
            assertEquals(new TreeSet<>(CheckpointFiles.keys(Fixtures.of("gpt_oss"))), new TreeSet<>(got.keys()),
                    "the fixture's names, each MXFP4 pair decoded into its weight");
            for (Map.Entry<String, Tensor> e : want.entrySet()) {
                assertSame(e.getValue(), got.tensor(e.getKey()), e.getKey());
            }
            assertEquals(DType.BF16, got.entry("model.layers.1.mlp.experts.down_proj").dtype());
        }
        JsonNode written = JSON.readTree(whole.resolve("config.json").toFile());
        assertFalse(written.has("quantization_config"), written.toString());
        Path ranks = dir.resolve("ranks");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, ranks).withLayout(GroupedLayout.HF_V5)
                .withRanks(RankSelection.all(3)));
        Path back = dir.resolve("back");
        MoeConvert.toHf(ToHfRequest.of(List.of(ranks), back));
        CheckpointFiles.assertSameTensors(whole, back);
    }

    /** {@code got} has {@code want}'s dtype, shape and bytes. */
    private static void assertSame(Tensor want, Tensor got, String what) {
        assertEquals(want.dtype(), got.dtype(), what + ": dtype");
        assertArrayEquals(want.sizes(), got.sizes(), what + ": shape");
        assertEquals(-1, want.contiguousCopy().segment().mismatch(got.segment()), what + ": bytes");
    }
}
