package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.GroupedLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The output appears whole or not at all: an existing one is refused unless replacing was allowed, and left as it
 * was; a conversion that fails part-way leaves no directory and no hidden {@code .NAME.tmp-*} sibling behind, and a
 * failed replacement leaves the old output in place.
 */
class OutputDirectoryTest {
    private static final OutputOptions REPLACE = OutputOptions.DEFAULTS.withReplaceExisting(true);

    /** A listener that fails the job at its {@code n}-th step, as any failure part-way through would. */
    static final class FailingAt implements ProgressListener {
        final RuntimeException failure = new IllegalStateException("stopped by the test");
        private final int n;
        int steps;

        FailingAt(int n) {
            this.n = n;
        }

        @Override
        public void step(String what, long doneBytes, long totalBytes) {
            if (++steps == n) {
                throw failure;
            }
        }

        @Override
        public void message(String text) {}
    }

    @Test
    void toGroupedIntoAnExistingOutputIsAUsageErrorAndLeavesItUntouched(@TempDir Path dir) throws IOException {
        Path out = existingOutput(dir);
        Map<String, byte[]> before = CheckpointFiles.snapshot(out);
        UsageException e = assertThrows(UsageException.class, () -> MoeConvert.toGrouped(
                ToGroupedRequest.of(Fixtures.of("qwen3_moe"), out).withRanks(RankSelection.all(3))));
        assertTrue(e.getMessage().contains(out.toString()), e.getMessage());
        CheckpointFiles.assertSameFiles(before, CheckpointFiles.snapshot(out));
        assertEquals(List.of("out"), CheckpointFiles.list(dir));
    }

    @Test
    void toHfIntoAnExistingOutputIsAUsageErrorAndLeavesItUntouched(@TempDir Path dir) throws IOException {
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), grouped));
        Path out = existingOutput(dir);
        Map<String, byte[]> before = CheckpointFiles.snapshot(out);
        assertThrows(UsageException.class, () -> MoeConvert.toHf(ToHfRequest.of(List.of(grouped), out)));
        CheckpointFiles.assertSameFiles(before, CheckpointFiles.snapshot(out));
        assertEquals(List.of("grouped", "out"), CheckpointFiles.list(dir));
    }

    @Test
    void replacingAnExistingOutputLeavesOnlyTheNewCheckpoint(@TempDir Path dir) throws IOException {
        Path out = existingOutput(dir);
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), out).withWriting(REPLACE));
        assertFalse(Files.exists(out.resolve("keep.txt")), "the old output's files are gone");
        Path back = dir.resolve("back");
        MoeConvert.toHf(ToHfRequest.of(List.of(out), back));
        CheckpointFiles.assertSameTensors(Fixtures.of("qwen3_moe"), back);
        Path hfOut = existingOutput(dir.resolve("again"));
        MoeConvert.toHf(ToHfRequest.of(List.of(out), hfOut).withWriting(REPLACE));
        assertFalse(Files.exists(hfOut.resolve("keep.txt")));
        CheckpointFiles.assertSameTensors(Fixtures.of("qwen3_moe"), hfOut);
        assertEquals(List.of("again", "back", "out"), CheckpointFiles.list(dir));
    }

    @Test
    void toGroupedFailingAfterItsFirstRankLeavesNothingBehind(@TempDir Path dir) {
        FailingAt listener = new FailingAt(3); // rank 0's two layers are done, rank 1 under way
        RuntimeException e = assertThrows(RuntimeException.class, () -> MoeConvert.toGrouped(
                ToGroupedRequest.of(Fixtures.of("qwen3_moe"), dir.resolve("out")).withRanks(RankSelection.all(3)),
                listener));
        assertSame(listener.failure, e);
        assertEquals(List.of(), CheckpointFiles.list(dir), "no output, no staging sibling");
    }

    @Test
    void regroupingFailingPartWayLeavesNothingBehind(@TempDir Path dir) {
        Path source = dir.resolve("source");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), source).withRanks(RankSelection.all(2)));
        FailingAt listener = new FailingAt(2);
        RuntimeException e = assertThrows(RuntimeException.class, () -> MoeConvert.toGrouped(
                ToGroupedRequest.of(source, dir.resolve("out")).withLayout(GroupedLayout.GROUPED), listener));
        assertSame(listener.failure, e);
        assertEquals(List.of("source"), CheckpointFiles.list(dir));
    }

    @Test
    void toHfFailingPartWayLeavesNothingBehind(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), grouped).withRanks(RankSelection.all(3)));
        FailingAt listener = new FailingAt(2);
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> MoeConvert.toHf(ToHfRequest.of(List.of(grouped), dir.resolve("back")), listener));
        assertSame(listener.failure, e);
        assertEquals(List.of("grouped"), CheckpointFiles.list(dir));
    }

    @Test
    void aFailedReplacementKeepsTheOldOutput(@TempDir Path dir) {
        Path out = dir.resolve("out");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), out).withRanks(RankSelection.all(2)));
        Map<String, byte[]> before = CheckpointFiles.snapshot(out);
        FailingAt listener = new FailingAt(3);
        assertThrows(RuntimeException.class, () -> MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"),
                out).withLayout(GroupedLayout.VLLM).withRanks(RankSelection.all(3)).withWriting(REPLACE), listener));
        CheckpointFiles.assertSameFiles(before, CheckpointFiles.snapshot(out));
        assertEquals(List.of("out"), CheckpointFiles.list(dir));
    }

    @Test
    void anInvalidInputLeavesNoDirectoryBehind(@TempDir Path dir) {
        Path input = Fixtures.copy("deepseek_v3", dir);
        CheckpointFiles.removeTensors(input, List.of("model.layers.2.mlp.experts.3.up_proj.weight"));
        assertThrows(InvalidInputException.class, () -> MoeConvert.toGrouped(ToGroupedRequest.of(input,
                dir.resolve("out")).withRanks(RankSelection.all(3))));
        assertEquals(List.of("deepseek_v3"), CheckpointFiles.list(dir));
    }

    /** {@code dir/out} holding one file of the user's. */
    private static Path existingOutput(Path dir) throws IOException {
        Path out = Files.createDirectories(dir.resolve("out"));
        Files.writeString(out.resolve("keep.txt"), "mine");
        return out;
    }
}
