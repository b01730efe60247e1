package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An input that cannot be converted is refused with {@link InvalidInputException} listing every problem, before
 * anything is written: no output, no staging sibling.
 */
class InvalidInputTest {
    /** Experts taken out of the qwen3_moe copy: across layers and ranks, whole experts and single projections. */
    private static final List<String> REMOVED = List.of(
            "model.layers.0.mlp.experts.1.gate_proj.weight", "model.layers.0.mlp.experts.1.up_proj.weight",
            "model.layers.0.mlp.experts.1.down_proj.weight",
            "model.layers.0.mlp.experts.4.down_proj.weight",
            "model.layers.1.mlp.experts.6.up_proj.weight",
            "model.layers.1.mlp.experts.7.gate_proj.weight", "model.layers.1.mlp.experts.7.up_proj.weight",
            "model.layers.1.mlp.experts.7.down_proj.weight");

    @Test
    void everyMissingExpertTensorIsListedWithoutExpertParallelism(@TempDir Path dir) {
        Path input = damagedInput(dir);
        Path out = dir.resolve("out");
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(input, out)));
        assertListsEvery(REMOVED, e.problems());
        assertNothingWritten(dir, "out");
    }

    @Test
    void everyMissingExpertTensorOfEveryRankIsListed(@TempDir Path dir) {
        Path input = damagedInput(dir);
        Path out = dir.resolve("out");
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(input, out).withRanks(RankSelection.all(3))));
        assertListsEvery(REMOVED, e.problems());
        assertTrue(e.getMessage().contains(REMOVED.size() + " problems"), e.getMessage());
        assertNothingWritten(dir, "out");
    }

    @Test
    void oneRankIsRefusedOnlyForItsOwnMissingExperts(@TempDir Path dir) {
        Path input = damagedInput(dir);
        // Rank 2 of 3 holds experts [6, 8): only the last four removed tensors are its.
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(input, dir.resolve("out"))
                        .withRanks(RankSelection.one(3, 2))));
        assertListsEvery(REMOVED.subList(4, REMOVED.size()), e.problems());
        assertEquals(4, e.problems().size(), e.problems().toString());
        for (String other : REMOVED.subList(0, 4)) {
            assertTrue(e.problems().stream().noneMatch(p -> p.contains(other)), other + " is not rank 2's");
        }
        assertNothingWritten(dir, "out");
    }

    @Test
    void moreRanksThanExpertsIsRefused(@TempDir Path dir) {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), dir.resolve("out"))
                        .withRanks(RankSelection.all(9))));
        assertTrue(e.problems().stream().anyMatch(p -> p.contains("9")), e.problems().toString());
        assertNothingWritten(dir, "out");
    }

    @Test
    void toHfWithARankMissingListsTheExpertsNoRankHolds(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), grouped).withRanks(RankSelection.all(3)));
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> MoeConvert.toHf(
                ToHfRequest.of(List.of(grouped.resolve("ep-rank-0"), grouped.resolve("ep-rank-2")), dir.resolve("back"))));
        // Each of the four grouped tensors lacks experts 3, 4 and 5.
        List<String> lacking = e.problems().stream().filter(p -> p.contains("[3, 4, 5]")).toList();
        assertEquals(4, lacking.size(), e.problems().toString());
        assertNothingWritten(dir, "back");
    }

    @Test
    void anEpRankNotBelowTheGroupSizeIsAUsageError() {
        assertThrows(UsageException.class, () -> RankSelection.one(3, 3));
        assertThrows(UsageException.class, () -> RankSelection.all(0));
    }

    private static Path damagedInput(Path dir) {
        Path input = Fixtures.copy("qwen3_moe", dir);
        CheckpointFiles.removeTensors(input, REMOVED);
        return input;
    }

    /** Each of {@code keys} is named by a problem of its own. */
    static void assertListsEvery(List<String> keys, List<String> problems) {
        List<String> unlisted = new ArrayList<>();
        for (String key : keys) {
            if (problems.stream().noneMatch(p -> p.contains(key))) {
                unlisted.add(key);
            }
        }
        assertEquals(List.of(), unlisted, "not listed among " + problems);
    }

    /** {@code dir} holds no {@code name} and no hidden staging sibling of it. */
    static void assertNothingWritten(Path dir, String name) {
        assertFalse(Files.exists(dir.resolve(name)), dir.resolve(name) + " exists");
        List<String> hidden = CheckpointFiles.list(dir).stream().filter(n -> n.startsWith(".")).toList();
        assertEquals(List.of(), hidden, "staging left in " + dir);
    }
}
