package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.safetensors.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * to-grouped then to-hf through {@link MoeConvert} gives back the transformers-written input byte for byte, for each
 * grouped layout, without expert parallelism and on 3 ranks of an 8-expert model (3/3/2 experts); the grouped
 * checkpoints in the middle really are grouped, each rank holding its own experts only.
 */
class RoundTripTest {
    private static final long H = 64;
    private static final long I = 32;

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String fixture : List.of("qwen3_moe", "deepseek_v3")) {
            for (GroupedLayout layout : GroupedLayout.named()) {
                out.add(Arguments.of(fixture, layout, 0));
                out.add(Arguments.of(fixture, layout, 3));
            }
        }
        return out.stream();
    }

    /** The MoE layers of each fixture (deepseek_v3's first layer is dense). */
    static List<Integer> moeLayers(String fixture) {
        return fixture.equals("deepseek_v3") ? List.of(1, 2) : List.of(0, 1);
    }

    @ParameterizedTest(name = "{0} as {1} on ep size {2}")
    @MethodSource("cases")
    void toGroupedThenToHfRestoresTheInputByteForByte(String fixture, GroupedLayout layout, int epSize,
                                                      @TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        Path back = dir.resolve("back");
        RankSelection ranks = epSize == 0 ? RankSelection.none() : RankSelection.all(epSize);
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of(fixture), grouped).withLayout(layout).withRanks(ranks));
        if (epSize == 0) {
            assertGrouped(grouped, fixture, layout, 8);
        } else {
            assertEquals(List.of("ep-rank-0", "ep-rank-1", "ep-rank-2"), CheckpointFiles.list(grouped));
            int[] counts = {3, 3, 2};
            for (int r = 0; r < 3; r++) {
                assertGrouped(grouped.resolve("ep-rank-" + r), fixture, layout, counts[r]);
            }
        }
        MoeConvert.toHf(ToHfRequest.of(List.of(grouped), back));
        CheckpointFiles.assertSameTensors(Fixtures.of(fixture), back);
        assertTrue(Files.isRegularFile(back.resolve("config.json")), "config.json comes along");
    }

    @Test
    void theRanksOfOneRunGivenOneByOneInAnyOrderMergeByExpertId(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        Path back = dir.resolve("back");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), grouped).withLayout(GroupedLayout.VLLM)
                .withRanks(RankSelection.all(3)));
        MoeConvert.toHf(ToHfRequest.of(List.of(grouped.resolve("ep-rank-2"), grouped.resolve("ep-rank-0"),
                grouped.resolve("ep-rank-1")), back));
        CheckpointFiles.assertSameTensors(Fixtures.of("qwen3_moe"), back);
    }

    @Test
    void singleRanksWrittenOneByOneMergeBackToTheInput(@TempDir Path dir) {
        List<Path> ranks = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            Path rank = dir.resolve("rank" + r);
            MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("deepseek_v3"), rank)
                    .withRanks(RankSelection.one(3, r)));
            assertGrouped(rank, "deepseek_v3", GroupedLayout.DEEPEP, r < 2 ? 3 : 2);
            ranks.add(rank);
        }
        Path back = dir.resolve("back");
        MoeConvert.toHf(ToHfRequest.of(ranks, back));
        CheckpointFiles.assertSameTensors(Fixtures.of("deepseek_v3"), back);
    }

    @ParameterizedTest(name = "gpt_oss on ep size {0}")
    @MethodSource("gptOssSizes")
    void gptOssComesBackByteForByte(int epSize, @TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        Path back = dir.resolve("back");
        RankSelection ranks = epSize == 0 ? RankSelection.none() : RankSelection.all(epSize);
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("gpt_oss"), grouped).withRanks(ranks));
        Path first = epSize == 0 ? grouped : grouped.resolve("ep-rank-0");
        assertFalse(CheckpointFiles.keys(first).containsAll(CheckpointFiles.keys(Fixtures.of("gpt_oss"))),
                "the grouped checkpoint renames GPT-OSS's expert tensors");
        MoeConvert.toHf(ToHfRequest.of(List.of(grouped), back));
        CheckpointFiles.assertSameTensors(Fixtures.of("gpt_oss"), back);
    }

    static Stream<Integer> gptOssSizes() {
        return Stream.of(0, 3);
    }

    /**
     * {@code dir} holds {@code layout}'s grouped tensors of {@code experts} experts for every MoE layer of the fixture,
     * of the layout's shapes, and no per-expert tensor.
     */
    private static void assertGrouped(Path dir, String fixture, GroupedLayout layout, int experts) {
        try (Checkpoint c = Checkpoint.open(dir)) {
            for (String key : c.keys()) {
                assertNull(ExpertNaming.DEFAULT.parsePerExpert(key), dir + " still holds per-expert " + key);
            }
            for (int layer : moeLayers(fixture)) {
                for (String name : layout.tensorNames(true)) {
                    String key = layout.key(ExpertNaming.DEFAULT, "model.", layer, name);
                    assertTrue(c.contains(key), dir + " lacks " + key + ": " + c.keys());
                    assertArrayEquals(layout.shape(name, experts, H, I, true), c.entry(key).shape(), key);
                }
            }
        }
    }
}
