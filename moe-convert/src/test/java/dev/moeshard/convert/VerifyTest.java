package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link MoeConvert#verify} finds a fresh conversion identical to its input, counting what it compared, and names the
 * key (and rank) of a tensor changed afterwards in the grouped output.
 */
class VerifyTest {
    private static final long H = 64;
    private static final long I = 32;

    @ParameterizedTest(name = "{0}")
    // the named layouts: hf-v5's forms are for the families that have them
    @EnumSource(value = GroupedLayout.class, names = {"HF_V5_TRANSPOSED", "HF_V5_UP"},
            mode = EnumSource.Mode.EXCLUDE)
    void aFreshConversionOnThreeRanksIsIdenticalAndEveryTensorWasCompared(GroupedLayout layout, @TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), grouped).withLayout(layout)
                .withRanks(RankSelection.all(3)));
        VerifyReport report = MoeConvert.verify(VerifyRequest.of(Fixtures.of("qwen3_moe"), List.of(grouped)));
        assertTrue(report.identical(), report.differences().toString());
        assertEquals(List.of(), report.differences());
        assertEquals(3, report.ranks());
        // Expert tensors once, the others once per rank.
        long expertTensors = 0;
        long expertBytes = 0;
        long otherTensors = 0;
        long otherBytes = 0;
        try (Checkpoint in = Checkpoint.open(Fixtures.of("qwen3_moe"))) {
            for (String key : in.keys()) {
                boolean expert = ExpertNaming.DEFAULT.parsePerExpert(key) != null;
                expertTensors += expert ? 1 : 0;
                otherTensors += expert ? 0 : 1;
                expertBytes += expert ? in.entry(key).byteSize() : 0;
                otherBytes += expert ? 0 : in.entry(key).byteSize();
            }
        }
        assertEquals(2 * 8 * 3, expertTensors);
        assertEquals(expertTensors + 3 * otherTensors, report.comparisons());
        assertEquals(expertBytes + 3 * otherBytes, report.bytes());
    }

    @Test
    void aFreshConversionWithoutExpertParallelismIsIdentical(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("deepseek_v3"), grouped));
        VerifyReport report = MoeConvert.verify(VerifyRequest.of(Fixtures.of("deepseek_v3"), List.of(grouped)));
        assertTrue(report.identical(), report.differences().toString());
        assertEquals(1, report.ranks());
        assertEquals(CheckpointFiles.keys(Fixtures.of("deepseek_v3")).size(), report.comparisons());
        assertEquals(CheckpointFiles.tensorBytes(Fixtures.of("deepseek_v3")), report.bytes());
    }

    @Test
    void oneByteChangedInAGroupedExpertTensorIsReportedUnderThatExpertsKey(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), grouped).withRanks(RankSelection.all(3)));
        // Rank 1 holds experts [3, 6); its local expert 1 is expert 4. down_projs [3, I, H]: element [1, 0, 5].
        CheckpointFiles.changeTensor(grouped.resolve("ep-rank-1"), "model.layers.1.mlp.experts.down_projs",
                t -> flipByte(t, (1 * I * H + 5) * 2));
        VerifyReport report = MoeConvert.verify(VerifyRequest.of(Fixtures.of("qwen3_moe"), List.of(grouped)));
        assertFalse(report.identical());
        assertEquals(1, report.differences().size(), report.differences().toString());
        String difference = report.differences().getFirst();
        assertTrue(difference.contains("model.layers.1.mlp.experts.4.down_proj.weight"), difference);
        assertTrue(difference.contains("rank 1"), difference);
    }

    @Test
    void aNonExpertTensorChangedOnOneRankIsReportedForThatRank(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), grouped).withLayout(GroupedLayout.HF_V5)
                .withRanks(RankSelection.all(3)));
        CheckpointFiles.changeTensor(grouped.resolve("ep-rank-2"), "model.norm.weight", t -> flipByte(t, 0));
        VerifyReport report = MoeConvert.verify(VerifyRequest.of(Fixtures.of("qwen3_moe"), List.of(grouped)));
        assertFalse(report.identical());
        assertEquals(1, report.differences().size(), report.differences().toString());
        assertTrue(report.differences().getFirst().contains("model.norm.weight"), report.differences().toString());
        assertTrue(report.differences().getFirst().contains("rank 2"), report.differences().toString());
    }

    @Test
    void aMissingRankIsReportedAsEveryExpertTensorItHeld(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), grouped).withRanks(RankSelection.all(3)));
        VerifyReport report = MoeConvert.verify(VerifyRequest.of(Fixtures.of("qwen3_moe"),
                List.of(grouped.resolve("ep-rank-0"), grouped.resolve("ep-rank-1"))));
        assertFalse(report.identical());
        List<String> expected = new ArrayList<>();
        for (int layer = 0; layer < 2; layer++) {
            for (int expert = 6; expert < 8; expert++) {
                for (String p : List.of("gate_proj", "up_proj", "down_proj")) {
                    expected.add("model.layers." + layer + ".mlp.experts." + expert + "." + p + ".weight");
                }
            }
        }
        for (String key : expected) {
            assertTrue(report.differences().stream().anyMatch(d -> d.startsWith(key + ":")),
                    key + " not reported: " + report.differences());
        }
        assertEquals(expected.size(), report.differences().size(), report.differences().toString());
    }

    private static Tensor flipByte(Tensor t, long at) {
        byte b = t.segment().get(ValueLayout.JAVA_BYTE, at);
        t.segment().set(ValueLayout.JAVA_BYTE, at, (byte) (b ^ 0x01));
        return t;
    }
}
