package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.GroupedLayout;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A conversion shared by workers: units written in any order by any number of workers, then finalized, give exactly
 * the bytes of one run; a unit stopped half-way or damaged is named and redone; another plan is refused; a stopped
 * run continues with resume.
 */
class StagedUnitsTest {
    private static final SampleCheckpoint MODEL = new SampleCheckpoint(4, 16, 256, 128);
    private static final long SHARD = 300_000;

    private static Path input(Path dir) {
        Path in = dir.resolve("in");
        MODEL.write(in, 7, 1_000_000);
        return in;
    }

    private static OutputOptions smallShards() {
        return OutputOptions.DEFAULTS.withMaxShardBytes(SHARD);
    }

    /** Runs every unit of {@code plan} as one worker each, three at a time, in a shuffled order. */
    private static void runAsWorkers(ConversionPlan plan, Path output) throws Exception {
        List<String> ids = new ArrayList<>(plan.units().stream().map(WorkUnit::id).toList());
        Collections.shuffle(ids, new Random(3));
        ExecutorService workers = Executors.newFixedThreadPool(3);
        try {
            List<Future<UnitsReport>> done = new ArrayList<>();
            for (String id : ids) {
                done.add(workers.submit(() -> MoeConvert.runUnits(output, List.of(id), ProgressListener.NONE)));
            }
            for (Future<UnitsReport> f : done) {
                assertEquals(1, f.get().ran().size());
            }
        } finally {
            workers.shutdown();
        }
    }

    private void workersGiveTheBytesOfOneRun(Path dir, RankSelection ranks) throws Exception {
        Path in = input(dir);
        ToGroupedRequest single = ToGroupedRequest.of(in, dir.resolve("single")).withRanks(ranks).withWriting(smallShards());
        MoeConvert.toGrouped(single);

        ToGroupedRequest shared = single.withOutput(dir.resolve("shared"));
        ConversionPlan plan = MoeConvert.stage(shared);
        assertTrue(plan.units().size() > 3, "several units: " + plan.units().size());
        runAsWorkers(plan, shared.output());
        assertFalse(Files.exists(shared.output()), "nothing in place before finalize");
        MoeConvert.finalizeOutput(shared.output(), ProgressListener.NONE);
        CheckpointFiles.assertSameFiles(CheckpointFiles.snapshot(single.output()),
                CheckpointFiles.snapshot(shared.output()));

        // and back: to-hf shared the same way gives the bytes of one to-hf run, which are the input's tensors
        ToHfRequest back = ToHfRequest.of(List.of(single.output()), dir.resolve("hf-single")).withWriting(smallShards());
        MoeConvert.toHf(back);
        ToHfRequest backShared = ToHfRequest.of(List.of(single.output()), dir.resolve("hf-shared"))
                .withWriting(smallShards());
        ConversionPlan backPlan = MoeConvert.stage(backShared);
        for (int slice = 0; slice < 3; slice++) {
            MoeConvert.runUnits(backShared, new UnitSlice(slice, 3), ProgressListener.NONE);
        }
        MoeConvert.finalizeOutput(backShared.output(), ProgressListener.NONE);
        assertTrue(backPlan.units().size() > 1);
        CheckpointFiles.assertSameFiles(CheckpointFiles.snapshot(back.output()),
                CheckpointFiles.snapshot(backShared.output()));
        CheckpointFiles.assertSameTensors(in, backShared.output());
    }

    @Test
    void workersAndFinalizeGiveTheBytesOfOneRunWithoutExpertParallelism(@TempDir Path dir) throws Exception {
        workersGiveTheBytesOfOneRun(dir, RankSelection.none());
    }

    @Test
    void workersAndFinalizeGiveTheBytesOfOneRunAtEp8(@TempDir Path dir) throws Exception {
        workersGiveTheBytesOfOneRun(dir, RankSelection.all(8));
    }

    @Test
    void unitsOfOneLayerSplitAcrossShardsReadOnlyWhatTheirTensorsNeed(@TempDir Path dir) {
        Path in = input(dir);
        ConversionPlan whole = MoeConvert.planToGrouped(ToGroupedRequest.of(in, dir.resolve("a")));
        ConversionPlan split = MoeConvert.planToGrouped(ToGroupedRequest.of(in, dir.resolve("b"))
                .withWriting(smallShards()));
        long wholeReads = whole.units().stream().mapToLong(WorkUnit::readBytes).sum();
        long splitReads = split.units().stream().mapToLong(WorkUnit::readBytes).sum();
        // Every input byte is read once, by one unit or another; a unit reads far less than the whole.
        assertEquals(wholeReads, splitReads);
        split.units().forEach(u -> assertTrue(u.readBytes() < wholeReads / 2, u.id() + " reads " + u.readBytes()));
    }

    @Test
    void slicesCoverEveryUnitOnce() {
        List<Integer> units = java.util.stream.IntStream.range(0, 23).boxed().toList();
        List<Integer> seen = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            List<Integer> mine = new UnitSlice(i, 5).select(units);
            assertTrue(mine.size() == 4 || mine.size() == 5, mine.toString());
            seen.addAll(mine);
        }
        Collections.sort(seen);
        assertEquals(units, seen);
        assertEquals(new UnitSlice(2, 7), UnitSlice.parse("2/7"));
        assertThrows(UsageException.class, () -> UnitSlice.parse("7/7"));
        assertThrows(UsageException.class, () -> UnitSlice.parse("3"));
    }

    @Test
    void aWorkerPlansOnlyTheRanksOfItsUnits() {
        java.util.function.IntPredicate ranks = StagedJobs.ranksOf(List.of("ep-rank-3/model-00001-of-00002.safetensors",
                "ep-rank-12/model.safetensors"));
        assertTrue(ranks.test(3) && ranks.test(12));
        assertFalse(ranks.test(4) || ranks.test(0));
        assertTrue(StagedJobs.ranksOf(List.of("model.safetensors")).test(7), "no rank folder: every rank");
    }

    @Test
    void slicesComeFromSlurmAndKubernetesEnvironments() {
        assertEquals(new UnitSlice(3, 8), UnitSlice.fromEnvironment(
                Map.of("SLURM_ARRAY_TASK_ID", "3", "SLURM_ARRAY_TASK_COUNT", "8"), null).orElseThrow());
        assertEquals(new UnitSlice(2, 4), UnitSlice.fromEnvironment(
                Map.of("SLURM_ARRAY_TASK_ID", "12", "SLURM_ARRAY_TASK_MIN", "10", "SLURM_ARRAY_TASK_MAX", "13"), null)
                .orElseThrow());
        assertEquals(new UnitSlice(5, 6), UnitSlice.fromEnvironment(Map.of("JOB_COMPLETION_INDEX", "5"), 6).orElseThrow());
        assertTrue(UnitSlice.fromEnvironment(Map.of("HOME", "/root"), null).isEmpty());
        assertThrows(UsageException.class, () -> UnitSlice.fromEnvironment(Map.of("JOB_COMPLETION_INDEX", "5"), null));
        assertThrows(UsageException.class, () -> UnitSlice.fromEnvironment(Map.of("SLURM_ARRAY_TASK_ID", "1"), null));
    }

    @Test
    void aUnitStoppedHalfWayIsNamedByFinalizeAndRedoneByItsWorker(@TempDir Path dir) throws Exception {
        Path in = input(dir);
        ToGroupedRequest request = ToGroupedRequest.of(in, dir.resolve("out")).withRanks(RankSelection.all(2))
                .withWriting(smallShards());
        ConversionPlan plan = MoeConvert.stage(request);
        List<String> ids = plan.units().stream().map(WorkUnit::id).toList();
        MoeConvert.runUnits(request.output(), ids.subList(1, ids.size()), ProgressListener.NONE);
        // What a worker killed while writing unit 0 leaves: part of a file under a temporary name, no record.
        Path staging = dir.resolve(".out.tmp-staging");
        Path partial = staging.resolve(ids.getFirst()).resolveSibling(".half.tmp-0000");
        Files.createDirectories(partial.getParent());
        Files.write(partial, new byte[1000]);

        InvalidInputException missing = assertThrows(InvalidInputException.class,
                () -> MoeConvert.finalizeOutput(request.output(), ProgressListener.NONE));
        assertTrue(missing.problems().getFirst().contains("unit " + ids.getFirst() + ": not done"), missing.problems().toString());
        assertFalse(Files.exists(request.output()));

        UnitsReport rerun = MoeConvert.runUnits(request, new UnitSlice(0, 1), ProgressListener.NONE);
        assertEquals(List.of(ids.getFirst()), rerun.ran());
        assertEquals(ids.size() - 1, rerun.skipped().size());
        assertTrue(rerun.complete());
        MoeConvert.finalizeOutput(request.output(), ProgressListener.NONE);
        assertFalse(Files.exists(request.output().resolve(ids.getFirst()).resolveSibling(".half.tmp-0000")));
        MoeConvert.toGrouped(request.withOutput(dir.resolve("single")));
        CheckpointFiles.assertSameFiles(CheckpointFiles.snapshot(dir.resolve("single")),
                CheckpointFiles.snapshot(request.output()));
    }

    @Test
    void aDamagedUnitIsNamedByFinalizeAndRedone(@TempDir Path dir) throws Exception {
        Path in = input(dir);
        ToGroupedRequest request = ToGroupedRequest.of(in, dir.resolve("out")).withWriting(smallShards());
        ConversionPlan plan = MoeConvert.stage(request);
        MoeConvert.runUnits(request, UnitSlice.all(), ProgressListener.NONE);
        String victim = plan.units().get(1).id();
        Path file = dir.resolve(".out.tmp-staging").resolve(victim);
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(f.length() / 2);
            int b = f.read();
            f.seek(f.length() / 2);
            f.write(b ^ 0x40);
        }
        InvalidInputException damaged = assertThrows(InvalidInputException.class,
                () -> MoeConvert.finalizeOutput(request.output(), ProgressListener.NONE));
        assertEquals(2, damaged.problems().size(), damaged.problems().toString());
        assertTrue(damaged.problems().getFirst().contains(victim) && damaged.problems().getFirst().contains("damaged"),
                damaged.problems().toString());
        assertFalse(Files.exists(request.output()));

        List<String> messages = new ArrayList<>();
        UnitsReport rerun = MoeConvert.runUnits(request, UnitSlice.all(), new Messages(messages));
        assertEquals(List.of(victim), rerun.ran());
        assertTrue(messages.stream().anyMatch(m -> m.contains("redoing unit " + victim)), messages.toString());
        MoeConvert.finalizeOutput(request.output(), ProgressListener.NONE);
        MoeConvert.toGrouped(request.withOutput(dir.resolve("single")));
        CheckpointFiles.assertSameFiles(CheckpointFiles.snapshot(dir.resolve("single")),
                CheckpointFiles.snapshot(request.output()));
    }

    @Test
    void aWorkerOfAnotherPlanIsRefused(@TempDir Path dir) {
        Path in = input(dir);
        ToGroupedRequest request = ToGroupedRequest.of(in, dir.resolve("out")).withRanks(RankSelection.all(2));
        MoeConvert.stage(request);
        InvalidInputException refused = assertThrows(InvalidInputException.class,
                () -> MoeConvert.runUnits(request.withLayout(GroupedLayout.HF_V5), new UnitSlice(0, 2), ProgressListener.NONE));
        assertTrue(refused.problems().getFirst().contains("staged for another plan"), refused.problems().toString());
        assertThrows(InvalidInputException.class, () -> MoeConvert.stage(request.withRanks(RankSelection.all(4))));
    }

    @Test
    void finalizingTwiceIsHarmlessAndFinalizingNothingIsRefused(@TempDir Path dir) {
        Path in = input(dir);
        ToGroupedRequest request = ToGroupedRequest.of(in, dir.resolve("out"));
        MoeConvert.runUnits(request, UnitSlice.all(), ProgressListener.NONE);
        MoeConvert.finalizeOutput(request.output(), ProgressListener.NONE);
        Map<String, byte[]> first = CheckpointFiles.snapshot(request.output());
        ConversionReport again = MoeConvert.finalizeOutput(request.output(), ProgressListener.NONE);
        assertEquals(List.of(), again.outputs());
        CheckpointFiles.assertSameFiles(first, CheckpointFiles.snapshot(request.output()));
        assertThrows(InvalidInputException.class, () -> MoeConvert.finalizeOutput(dir.resolve("none"), ProgressListener.NONE));
    }

    @Test
    void aStoppedRunIsReportedAndContinuesWithResumeKeepingItsFinishedUnits(@TempDir Path dir) throws Exception {
        Path in = input(dir);
        ToGroupedRequest request = ToGroupedRequest.of(in, dir.resolve("out")).withRanks(RankSelection.all(2))
                .withWriting(smallShards());
        ConversionPlan plan = MoeConvert.stage(request);
        List<String> ids = plan.units().stream().map(WorkUnit::id).toList();
        List<String> finished = ids.subList(0, ids.size() / 2);
        MoeConvert.runUnits(request.output(), finished, ProgressListener.NONE);
        Path staging = dir.resolve(".out.tmp-staging");
        Object kept = Files.readAttributes(staging.resolve(finished.getFirst()), BasicFileAttributes.class).fileKey();

        UsageException refused = assertThrows(UsageException.class, () -> MoeConvert.toGrouped(request));
        assertTrue(refused.getMessage().contains("--resume") && refused.getMessage().contains("rm -rf")
                && refused.getMessage().contains(finished.size() + " of " + ids.size() + " units done"), refused.getMessage());

        List<String> messages = new ArrayList<>();
        MoeConvert.resume(request, new Messages(messages));
        assertTrue(messages.stream().anyMatch(m -> m.startsWith("kept " + finished.size() + " of " + ids.size())),
                messages.toString());
        assertEquals(kept, Files.readAttributes(request.output().resolve(finished.getFirst()), BasicFileAttributes.class)
                .fileKey(), "a finished unit's file is kept, not written again");
        assertFalse(Files.exists(staging));
        MoeConvert.toGrouped(request.withOutput(dir.resolve("single")));
        CheckpointFiles.assertSameFiles(CheckpointFiles.snapshot(dir.resolve("single")),
                CheckpointFiles.snapshot(request.output()));
    }

    /** Collects messages. */
    private record Messages(List<String> lines) implements ProgressListener {
        @Override
        public void step(String what, long doneBytes, long totalBytes) {}

        @Override
        public void message(String text) {
            lines.add(text);
        }
    }
}
