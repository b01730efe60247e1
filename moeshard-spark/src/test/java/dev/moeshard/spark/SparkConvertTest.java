package dev.moeshard.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moeshard.cli.ExitCode;
import dev.moeshard.cli.Requests;
import dev.moeshard.convert.MoeConvert;
import dev.moeshard.convert.ProgressListener;
import dev.moeshard.convert.SampleCheckpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.spark.TaskContext;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The job's driver in a local Spark session against the same request run in one process, file for file and byte for
 * byte: to-grouped without and with expert parallelism, to-hf back, and units whose first attempt fails.
 */
class SparkConvertTest {
    // 8 experts of [32, 64] BF16 per projection, 2 layers, in 64 KB input shards: with the small --max-shard-size
    // below every output checkpoint has several shards, so the plan several units per rank.
    private static final SampleCheckpoint SAMPLE = new SampleCheckpoint(2, 8, 64, 32);

    @TempDir
    static Path shared;

    static Path input;

    @BeforeAll
    static void writeSample() {
        input = shared.resolve("in");
        SAMPLE.write(input, 11, 64 * 1024);
    }

    @Test
    void epOneMatchesOneProcess(@TempDir Path dir) {
        // No command word: IN OUT [options] is to-grouped.
        assertSameAsOneProcess(dir, input.toString(), "OUT", "--max-shard-size", "40KB");
    }

    @Test
    void everyRankOfEightMatchesOneProcess(@TempDir Path dir) {
        assertSameAsOneProcess(dir, "to-grouped", input.toString(), "OUT", "--ep-size", "8", "--all-ranks",
                "--max-shard-size", "16KB");
        assertTrue(Files.isDirectory(dir.resolve("spark/ep-rank-7")));
    }

    @Test
    void toHfBackMatchesOneProcess(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        MoeConvert.run(Requests.parse("to-grouped", input.toString(), grouped.toString(), "--ep-size", "8",
                "--all-ranks"), ProgressListener.NONE);
        assertSameAsOneProcess(dir, "to-hf", grouped.toString(), "OUT", "--max-shard-size", "40KB");
    }

    @Test
    void aUnitWhoseFirstAttemptFailsBeforeWritingIsRetried(@TempDir Path dir) {
        Path out = dir.resolve("spark");
        String victim = firstUnitOf(out);
        JobRun run = JobRun.of(failingFirstAttempt(victim, false), input.toString(), out.toString(), "--ep-size",
                "8", "--all-ranks", "--max-shard-size", "16KB");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertTrue(run.err().contains("unit " + victim + ": written on executor driver (attempt 2)"), run.toString());
        assertTrue(run.err().contains(", 0 done already, 1 retried, on 1 executor"), run.toString());
        assertSameAsOneProcess(out, dir.resolve("one"), input.toString(), "--ep-size", "8", "--all-ranks",
                "--max-shard-size", "16KB");
    }

    @Test
    void aUnitWhoseFirstAttemptFailsAfterWritingIsFoundDone(@TempDir Path dir) {
        Path out = dir.resolve("spark");
        String victim = firstUnitOf(out);
        JobRun run = JobRun.of(failingFirstAttempt(victim, true), input.toString(), out.toString(), "--ep-size",
                "8", "--all-ranks", "--max-shard-size", "16KB");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertTrue(run.err().contains("unit " + victim + ": done already on executor driver (attempt 2)"),
                run.toString());
        assertSameAsOneProcess(out, dir.resolve("one"), input.toString(), "--ep-size", "8", "--all-ranks",
                "--max-shard-size", "16KB");
    }

    @Test
    void aUnitThatKeepsFailingFailsTheJobWhichASecondSubmissionFinishes(@TempDir Path dir) {
        Path out = dir.resolve("spark");
        // The last unit: tasks start in partition order on two threads, so others are done before it first fails.
        String victim = unitsOf(out).getLast();
        UnitTask broken = (output, unit) -> {
            if (unit.equals(victim)) {
                throw new UncheckedIOException("cannot write unit " + unit, new IOException("disk on fire"));
            }
            return UnitTask.library().run(output, unit);
        };
        String[] args = {"to-grouped", input.toString(), out.toString(), "--ep-size", "8", "--all-ranks",
            "--max-shard-size", "16KB"};
        JobRun failed = JobRun.of(broken, args);
        assertEquals(ExitCode.IO_FAILURE, failed.code(), failed.toString());
        assertTrue(failed.err().contains("moeshard: cannot write unit " + victim), failed.toString());
        assertTrue(failed.err().contains("submit the same job again to continue it"), failed.toString());
        assertFalse(Files.exists(out), "the output appeared although a unit failed");
        assertTrue(hiddenIn(dir), "the staging directory with the finished units is gone");

        JobRun again = JobRun.of(args);
        assertEquals(ExitCode.OK, again.code(), again.toString());
        assertTrue(Pattern.compile("units: \\d+ written, [1-9]\\d* done already, 0 retried").matcher(again.err()).find(),
                again.toString());
        assertSameAsOneProcess(out, dir.resolve("one"), input.toString(), "--ep-size", "8", "--all-ranks",
                "--max-shard-size", "16KB");
    }

    @Test
    void jsonSummaryIsTheCommands(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("spark");
        JobRun run = JobRun.of(input.toString(), out.toString(), "--json", "--quiet");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertEquals("", run.err());
        JsonNode report = new ObjectMapper().readTree(run.out());
        assertEquals(out.toString(), report.get("output").asText());
        assertTrue(report.get("bytes").asLong() > 0);
    }

    @Test
    void badArgumentsExitWithUsageBeforeSparkIsAsked() {
        StringWriterPair io = new StringWriterPair();
        int code = SparkConvert.run(() -> {
            throw new AssertionError("no session for a usage error");
        }, UnitTask.library(), io.out(), io.err(), "to-grouped", input.toString());
        assertEquals(ExitCode.USAGE, code);
        assertTrue(io.errText().startsWith("moeshard: "), io.errText());
        assertEquals(ExitCode.USAGE, SparkConvert.run(LocalSpark::session, UnitTask.library(), io.out(), io.err(),
                input.toString(), "x", "--unit", "0/2"));
    }

    @Test
    void invalidInputExitsWithThreeAndWritesNothing(@TempDir Path dir) throws IOException {
        Path notACheckpoint = Files.createDirectories(dir.resolve("empty"));
        JobRun run = JobRun.of(notACheckpoint.toString(), dir.resolve("out").toString());
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(notACheckpoint), left.toList());
        }
    }

    /** A task that throws on the first attempt of unit {@code victim}, before or after writing it. */
    private static UnitTask failingFirstAttempt(String victim, boolean afterWriting) {
        return (output, unit) -> {
            boolean first = TaskContext.get().attemptNumber() == 0;
            if (unit.equals(victim) && first && !afterWriting) {
                throw new UncheckedIOException("first attempt of " + unit, new IOException("injected"));
            }
            var report = UnitTask.library().run(output, unit);
            if (unit.equals(victim) && first) {
                throw new UncheckedIOException("first attempt of " + unit + " lost", new IOException("injected"));
            }
            return report;
        };
    }

    private static String firstUnitOf(Path out) {
        return unitsOf(out).getFirst();
    }

    /** The unit ids of the EP-8 plan, planned from headers without writing anything. */
    private static List<String> unitsOf(Path out) {
        return MoeConvert.plan(Requests.parse("to-grouped", input.toString(), out.toString(), "--ep-size", "8",
                "--all-ranks", "--max-shard-size", "16KB")).units().stream().map(u -> u.id()).toList();
    }

    private static boolean hiddenIn(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.anyMatch(f -> f.getFileName().toString().startsWith("."));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Runs {@code args} (with OUT standing for the output) through Spark and in one process, and compares them. */
    private static void assertSameAsOneProcess(Path dir, String... args) {
        Path spark = dir.resolve("spark");
        String[] sparkArgs = replace(args, spark);
        JobRun run = JobRun.of(sparkArgs);
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertTrue(run.err().contains("one Spark task each"), run.toString());
        Path one = dir.resolve("one");
        MoeConvert.run(Requests.parse(commandFirst(replace(args, one))), ProgressListener.NONE);
        OutputFiles.assertSame(one, spark);
        OutputFiles.assertNoStagingLeft(dir);
    }

    /** Compares {@code spark}, written already, with {@code to-grouped input options} run in one process into {@code one}. */
    private static void assertSameAsOneProcess(Path spark, Path one, String in, String... options) {
        String[] args = Stream.concat(Stream.of("to-grouped", in, one.toString()), Stream.of(options))
                .toArray(String[]::new);
        MoeConvert.run(Requests.parse(args), ProgressListener.NONE);
        OutputFiles.assertSame(one, spark);
        OutputFiles.assertNoStagingLeft(spark.getParent());
    }

    private static String[] replace(String[] args, Path out) {
        return Stream.of(args).map(a -> a.equals("OUT") ? out.toString() : a).toArray(String[]::new);
    }

    private static String[] commandFirst(String[] args) {
        return args[0].startsWith("to-") ? args : Stream.concat(Stream.of("to-grouped"), Stream.of(args))
                .toArray(String[]::new);
    }
}
