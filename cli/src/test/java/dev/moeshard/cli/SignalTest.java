package dev.moeshard.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.convert.SampleCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A running conversion stopped from outside, as a user or a scheduler stops it: SIGTERM and SIGINT exit with 143 and
 * 130 and leave neither the output nor its staging; a run with --resume stopped so keeps its finished units;
 * SIGKILL leaves the staging, which the next run reports with how to resume or remove it, and --resume completes.
 * Each signal is sent once the staging directory exists and the run has recorded itself in it, so it lands mid-run.
 */
class SignalTest {
    private static final SampleCheckpoint MODEL = new SampleCheckpoint(12, 16, 512, 256);
    /**
     * A shell starts background jobs with SIGINT ignored, and a JVM that inherits that never sees the signal: where
     * env can reset it ({@code --default-signal}, coreutils 8.31 on), the run starts through it, so that the tests do
     * not depend on how the build was started.
     */
    private static final List<String> SIGINT_RESET = sigintReset();

    private static List<String> sigintReset() {
        List<String> reset = List.of("env", "--default-signal=INT");
        try {
            Process probe = new ProcessBuilder("env", "--default-signal=INT", "true").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return probe.waitFor(10, TimeUnit.SECONDS) && probe.exitValue() == 0 ? reset : List.of();
        } catch (IOException | InterruptedException e) {
            return List.of();
        }
    }

    private static Process start(Path in, Path out, Path log, String... more) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command = new java.util.ArrayList<>(SIGINT_RESET);
        command.addAll(List.of(java, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-cp", classPath, Main.class.getName(), "to-grouped",
                in.toString(), out.toString(), "--ep-size", "2", "--all-ranks", "--max-shard-size", "4MB"));
        command.addAll(List.of(more));
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static List<Path> staging(Path out) throws IOException {
        try (Stream<Path> siblings = Files.list(out.getParent())) {
            return siblings.filter(p -> p.getFileName().toString().startsWith("." + out.getFileName() + ".tmp-")).toList();
        }
    }

    private static long doneUnits(Path out) throws IOException {
        Path done = out.resolveSibling("." + out.getFileName() + ".tmp-staging").resolve(".moeshard").resolve("done");
        if (!Files.isDirectory(done)) {
            return 0;
        }
        try (Stream<Path> records = Files.list(done)) {
            return records.filter(p -> p.getFileName().toString().endsWith(".json")).count();
        }
    }

    /**
     * Waits until the run has created its staging directory and recorded itself in it (it is then converting), or
     * fails after 60 s.
     */
    private static void awaitStaging(Process p, Path out) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (staging(out).isEmpty() || !Files.exists(staging(out).getFirst().resolve(".moeshard").resolve("owner"))) {
            assertTrue(p.isAlive(), "the run ended before it staged anything");
            assertTrue(System.nanoTime() < deadline, "no staging directory appeared");
            Thread.sleep(5);
        }
    }

    private static void signal(Process p, String name) throws Exception {
        assertEquals(0, new ProcessBuilder("kill", "-" + name, Long.toString(p.pid())).start().waitFor());
    }

    private void stopsCleanly(Path dir, String signal, int expectedExit) throws Exception {
        Path in = dir.resolve("in");
        MODEL.write(in, 11, 20_000_000);
        Path out = dir.resolve("out");
        Process p = start(in, out, dir.resolve("log"));
        awaitStaging(p, out);
        signal(p, signal);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the run did not stop");
        String log = Files.readString(dir.resolve("log"));
        assertEquals(expectedExit, p.exitValue(), log);
        assertFalse(Files.exists(out), "no output after a " + signal + ": " + log);
        assertEquals(List.of(), staging(out), "no staging after a " + signal + ": " + log);
        assertTrue(log.contains("removed the unfinished output"), log);
    }

    @Test
    void sigtermStopsTheRunAndRemovesItsStaging(@TempDir Path dir) throws Exception {
        stopsCleanly(dir, "TERM", 143);
    }

    @Test
    void sigintStopsTheRunAndRemovesItsStaging(@TempDir Path dir) throws Exception {
        stopsCleanly(dir, "INT", 130);
    }

    @Test
    void aResumableRunStoppedBySigtermKeepsItsFinishedUnits(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in");
        MODEL.write(in, 13, 20_000_000);
        Path out = dir.resolve("out");
        Process p = start(in, out, dir.resolve("log"), "--resume");
        awaitStaging(p, out);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (doneUnits(out) == 0) {
            assertTrue(p.isAlive() && System.nanoTime() < deadline, "no unit finished");
            Thread.sleep(2);
        }
        signal(p, "TERM");
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the run did not stop");
        String log = Files.readString(dir.resolve("log"));
        if (p.exitValue() == 0) {
            return; // it finished before the signal landed: nothing to keep
        }
        assertEquals(143, p.exitValue(), log);
        assertTrue(log.contains("kept the finished units") && log.contains("--resume"), log);
        assertEquals(1, staging(out).size(), log);
        assertTrue(doneUnits(out) > 0, log);

        CliRun again = CliRun.of("to-grouped", in.toString(), out.toString(), "--ep-size", "2", "--all-ranks",
                "--max-shard-size", "4MB", "--resume");
        assertEquals(ExitCode.OK, again.code(), again.toString());
        assertTrue(again.err().contains("units already done and intact"), again.toString());
        assertEquals(List.of(), staging(out));
        assertSameAsOneRun(in, out, dir.resolve("single"));
    }

    private static void assertSameAsOneRun(Path in, Path out, Path single) throws IOException {
        CliRun fresh = CliRun.of("to-grouped", in.toString(), single.toString(), "--ep-size", "2", "--all-ranks",
                "--max-shard-size", "4MB");
        assertEquals(ExitCode.OK, fresh.code(), fresh.toString());
        try (Stream<Path> files = Files.walk(single)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(out.resolve(single.relativize(f))),
                        f.toString());
            }
        }
    }

    @Test
    void afterSigkillTheNextRunReportsTheStaleStagingAndResumeCompletesIt(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in");
        MODEL.write(in, 12, 20_000_000);
        Path out = dir.resolve("out");
        Process p = start(in, out, dir.resolve("log"));
        awaitStaging(p, out);
        p.destroyForcibly();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        List<Path> left = staging(out);
        assertEquals(1, left.size(), "a killed run leaves its staging");
        assertFalse(Files.exists(out));

        CliRun again = CliRun.of("to-grouped", in.toString(), out.toString(), "--ep-size", "2", "--all-ranks",
                "--max-shard-size", "4MB");
        assertEquals(ExitCode.USAGE, again.code(), again.toString());
        assertTrue(again.err().contains(left.getFirst().toString()) && again.err().contains("rm -rf")
                && again.err().contains("--resume"), again.toString());
        assertTrue(Files.isDirectory(left.getFirst()), "reported, not removed");

        CliRun resumed = CliRun.of("to-grouped", in.toString(), out.toString(), "--ep-size", "2", "--all-ranks",
                "--max-shard-size", "4MB", "--resume");
        assertEquals(ExitCode.OK, resumed.code(), resumed.toString());
        assertEquals(List.of(), staging(out));
        assertSameAsOneRun(in, out, dir.resolve("single"));
    }
}
