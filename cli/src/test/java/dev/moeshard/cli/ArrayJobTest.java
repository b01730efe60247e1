package dev.moeshard.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.convert.ConversionPlan;
import dev.moeshard.convert.MoeConvert;
import dev.moeshard.convert.OutputOptions;
import dev.moeshard.convert.RankSelection;
import dev.moeshard.convert.SampleCheckpoint;
import dev.moeshard.convert.ToGroupedRequest;
import dev.moeshard.convert.UnitSlice;
import dev.moeshard.convert.WorkUnit;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/slurm/convert.sbatch run the way Slurm runs an array: N copies at once, each with SLURM_ARRAY_TASK_ID and
 * SLURM_ARRAY_TASK_COUNT set; one is killed outright once it has finished a unit, finalize then names the units
 * missing, the killed task is run again, and finalize gives exactly the bytes of one to-grouped run.
 */
class ArrayJobTest {
    private static final SampleCheckpoint MODEL = new SampleCheckpoint(8, 16, 512, 256);
    private static final int TASKS = 3;
    private static final String SHARD = "2MB";

    private static String moeshardCommand() {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        return java + " --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp " + classPath + " "
                + Main.class.getName();
    }

    private static Process task(int id, Path in, Path out, String options, Path log) throws IOException {
        ProcessBuilder pb = new ProcessBuilder("bash", Path.of("../deploy/slurm/convert.sbatch").toString())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("IN", in.toString());
        pb.environment().put("OUT", out.toString());
        pb.environment().put("OPTIONS", options);
        pb.environment().put("MOESHARD", moeshardCommand());
        pb.environment().put("SLURM_ARRAY_TASK_ID", Integer.toString(id));
        pb.environment().put("SLURM_ARRAY_TASK_COUNT", Integer.toString(TASKS));
        return pb.start();
    }

    private static boolean done(Path out, String unit) {
        return Files.exists(out.resolveSibling("." + out.getFileName() + ".tmp-staging").resolve(".moeshard")
                .resolve("done").resolve(unit.replace('/', '+') + ".json"));
    }

    private void arrayGivesTheBytesOfOneRun(Path dir, RankSelection ranks, String options) throws Exception {
        Path in = dir.resolve("in");
        MODEL.write(in, 5, 20_000_000);
        Path out = dir.resolve("out");
        String all = options + " --max-shard-size " + SHARD;
        ConversionPlan plan = MoeConvert.planToGrouped(ToGroupedRequest.of(in, out).withRanks(ranks)
                .withWriting(OutputOptions.DEFAULTS.withMaxShardBytes(2_000_000)));
        List<String> victimUnits = new UnitSlice(1, TASKS).select(plan.units()).stream().map(WorkUnit::id).toList();
        assertTrue(victimUnits.size() >= 3, "task 1 has several units: " + victimUnits.size());

        List<Process> tasks = new ArrayList<>();
        for (int i = 0; i < TASKS; i++) {
            tasks.add(task(i, in, out, all, dir.resolve("task-" + i + ".log")));
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!done(out, victimUnits.getFirst())) {
            assertTrue(System.nanoTime() < deadline, "task 1 finished no unit");
            Thread.sleep(2);
        }
        Process victim = tasks.get(1);
        victim.descendants().forEach(ProcessHandle::destroyForcibly);
        victim.destroyForcibly();
        assertTrue(victim.waitFor(60, TimeUnit.SECONDS));
        for (int i : new int[] {0, 2}) {
            assertTrue(tasks.get(i).waitFor(120, TimeUnit.SECONDS));
            assertEquals(0, tasks.get(i).exitValue(), Files.readString(dir.resolve("task-" + i + ".log")));
        }
        boolean victimFinished = victimUnits.stream().allMatch(u -> done(out, u));
        if (!victimFinished) {
            CliRun early = CliRun.of("finalize", out.toString());
            assertEquals(ExitCode.INVALID_INPUT, early.code(), early.toString());
            assertTrue(early.err().contains("missing or damaged"), early.toString());
        }

        Process rerun = task(1, in, out, all, dir.resolve("task-1-again.log"));
        assertTrue(rerun.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, rerun.exitValue(), Files.readString(dir.resolve("task-1-again.log")));
        CliRun finalize = CliRun.of("finalize", out.toString());
        assertEquals(ExitCode.OK, finalize.code(), finalize.toString());

        Path single = dir.resolve("single");
        List<String> args = new ArrayList<>(List.of("to-grouped", in.toString(), single.toString()));
        args.addAll(List.of(all.split(" ")));
        CliRun one = CliRun.of(args.toArray(String[]::new));
        assertEquals(ExitCode.OK, one.code(), one.toString());
        try (Stream<Path> files = Files.walk(single)) {
            List<Path> expected = files.filter(Files::isRegularFile).toList();
            assertTrue(expected.size() > victimUnits.size());
            for (Path f : expected) {
                assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(out.resolve(single.relativize(f))),
                        f.toString());
            }
        }
        try (Stream<Path> files = Files.walk(out)) {
            assertEquals(Files.walk(single).filter(Files::isRegularFile).count(),
                    files.filter(Files::isRegularFile).count(), "no file more than one run writes");
        }
    }

    @Test
    void anArrayWithATaskKilledAndRerunGivesTheBytesOfOneRun(@TempDir Path dir) throws Exception {
        arrayGivesTheBytesOfOneRun(dir, RankSelection.none(), "--dtype keep");
    }

    @Test
    void anArrayAtEp8WithATaskKilledAndRerunGivesTheBytesOfOneRun(@TempDir Path dir) throws Exception {
        arrayGivesTheBytesOfOneRun(dir, RankSelection.all(8), "--ep-size 8 --all-ranks");
    }
}
