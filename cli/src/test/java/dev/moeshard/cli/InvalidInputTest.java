package dev.moeshard.cli;

import dev.moeshard.convert.Fixtures;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.DType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every invalid input of DESIGN.md §5, and the conversion's own refusals, end to end through the command line: each
 * exits with its code, says so in one line on stderr that names the file (and the key, where there is one), prints no
 * stack trace without --verbose, and leaves nothing at OUTPUT, not even the hidden staging sibling.
 */
class InvalidInputTest {
    /** qwen3_moe converted to grouped, as one file and as several shards with an index. */
    @TempDir
    static Path shared;

    static Path grouped;
    static Path groupedSharded;

    @BeforeAll
    static void convert() {
        grouped = shared.resolve("grouped");
        groupedSharded = shared.resolve("grouped-sharded");
        CliRun one = CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), grouped.toString(), "--quiet");
        assertEquals(ExitCode.OK, one.code(), one.toString());
        CliRun sharded = CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), groupedSharded.toString(),
                "--quiet", "--max-shard-size", "100KB");
        assertEquals(ExitCode.OK, sharded.code(), sharded.toString());
        assertTrue(Files.exists(groupedSharded.resolve(Damage.INDEX)), "expected several shards");
    }

    static List<Damage> fileDamages() {
        return Damage.ofFiles();
    }

    static List<Damage> indexDamages() {
        return Damage.ofIndex();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fileDamages")
    void aBrokenSafetensorsFileIsRefusedByEveryCommand(Damage damage, @TempDir Path dir) {
        refusedByEveryCommand(damage, "qwen3_moe", dir);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("indexDamages")
    void aBrokenIndexIsRefusedByEveryCommand(Damage damage, @TempDir Path dir) {
        refusedByEveryCommand(damage, "deepseek_v3", dir);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fileDamages")
    void aBrokenFileGivenByItselfIsRefused(Damage damage, @TempDir Path dir) {
        Path hf = Fixtures.copy("qwen3_moe", dir);
        Damage.Culprit culprit = damage.applyTo(hf);
        Path output = dir.resolve("out");
        refused(CliRun.of("to-grouped", culprit.file().toString(), output.toString()), ExitCode.INVALID_INPUT, culprit);
        assertNothingAt(output);
        refused(CliRun.of("inspect", culprit.file().toString()), ExitCode.INVALID_INPUT, culprit);
    }

    private static void refusedByEveryCommand(Damage damage, String fixture, Path dir) {
        // A damaged per-expert checkpoint: to-grouped, inspect, and verify against a sound grouped one.
        Path hf = Fixtures.copy(fixture, dir.resolve("hf"));
        Damage.Culprit culprit = damage.applyTo(hf);
        Path output = dir.resolve("out");
        refused(CliRun.of("to-grouped", hf.toString(), output.toString()), ExitCode.INVALID_INPUT, culprit);
        assertNothingAt(output);
        refused(CliRun.of("to-grouped", hf.toString(), output.toString(), "--ep-size", "2", "--all-ranks"),
                ExitCode.INVALID_INPUT, culprit);
        assertNothingAt(output);
        refused(CliRun.of("inspect", hf.toString()), ExitCode.INVALID_INPUT, culprit);
        refused(CliRun.of("inspect", hf.toString(), "--json"), ExitCode.INVALID_INPUT, culprit);
        refused(CliRun.of("verify", hf.toString(), grouped.toString()), ExitCode.INVALID_INPUT, culprit);

        // A damaged grouped checkpoint: to-hf, to-grouped (regrouping), and verify against the sound original.
        Path broken = copy(fixture.equals("deepseek_v3") ? groupedSharded : grouped, dir.resolve("grouped"));
        Damage.Culprit groupedCulprit = damage.applyTo(broken);
        refused(CliRun.of("to-hf", broken.toString(), output.toString()), ExitCode.INVALID_INPUT, groupedCulprit);
        assertNothingAt(output);
        refused(CliRun.of("to-grouped", broken.toString(), output.toString(), "--layout", "vllm"),
                ExitCode.INVALID_INPUT, groupedCulprit);
        assertNothingAt(output);
        refused(CliRun.of("verify", Fixtures.of("qwen3_moe").toString(), broken.toString()), ExitCode.INVALID_INPUT,
                groupedCulprit);
    }

    @Test
    void withVerboseTheStackTraceFollowsTheLine(@TempDir Path dir) {
        Path hf = Fixtures.copy("qwen3_moe", dir);
        Damage.Culprit culprit = Damage.ofFiles().get(0).applyTo(hf);
        CliRun run = CliRun.of("to-grouped", hf.toString(), dir.resolve("out").toString(), "--verbose");
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        String first = run.err().lines().findFirst().orElseThrow();
        assertTrue(first.startsWith("moeshard: ") && first.contains(culprit.file().toString()), run.toString());
        assertTrue(run.err().contains("\tat "), run.toString());
        assertNothingAt(dir.resolve("out"));
    }

    @Test
    void aMissingExpertIsRefused(@TempDir Path dir) {
        Path hf = Fixtures.copy("qwen3_moe", dir);
        String removed = "model.layers.1.mlp.experts.5.up_proj.weight";
        TestCheckpoints.removeTensor(hf, removed);
        Path output = dir.resolve("out");
        CliRun run = CliRun.of("to-grouped", hf.toString(), output.toString());
        refused(run, ExitCode.INVALID_INPUT, new Damage.Culprit(hf, removed));
        assertNothingAt(output);
    }

    @Test
    void anExpertOfAnotherShapeIsRefused(@TempDir Path dir) {
        Path hf = Fixtures.copy("qwen3_moe", dir);
        String changed = "model.layers.0.mlp.experts.3.down_proj.weight";
        TestCheckpoints.replaceTensor(hf, changed, Tensor.allocate(DType.BF16, 64, 31));
        Path output = dir.resolve("out");
        CliRun run = CliRun.of("to-grouped", hf.toString(), output.toString(), "--ep-size", "2", "--ep-rank", "0");
        refused(run, ExitCode.INVALID_INPUT, new Damage.Culprit(hf, changed));
        assertNothingAt(output);
    }

    @Test
    void anExistingOutputIsAUsageErrorAndIsLeftAlone(@TempDir Path dir) throws IOException {
        Path output = Files.createDirectory(dir.resolve("out"));
        Files.writeString(output.resolve("mine.txt"), "mine");
        CliRun run = CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), output.toString());
        refused(run, ExitCode.USAGE, new Damage.Culprit(output, null));
        assertTrue(run.err().contains("--force"), run.toString());
        try (Stream<Path> files = Files.list(output)) {
            assertEquals(List.of(output.resolve("mine.txt")), files.toList());
        }
        assertEquals("mine", Files.readString(output.resolve("mine.txt")));
        assertNoStagingIn(dir);
    }

    @Test
    void anEpRankNotBelowEpSizeIsAUsageError(@TempDir Path dir) {
        Path output = dir.resolve("out");
        for (String rank : List.of("2", "3")) {
            CliRun run = CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), output.toString(),
                    "--ep-size", "2", "--ep-rank", rank);
            assertEquals(ExitCode.USAGE, run.code(), run.toString());
            assertOneLine(run);
            assertTrue(run.err().contains("--ep-rank") && run.err().contains(rank), run.toString());
            assertNothingAt(output);
        }
    }

    /** The run failed with {@code code} and one line on stderr naming the file and key of {@code culprit}. */
    private static void refused(CliRun run, int code, Damage.Culprit culprit) {
        assertEquals(code, run.code(), run.toString());
        assertOneLine(run);
        assertTrue(run.err().contains(culprit.file().toString()), () -> "file not named: " + run);
        if (culprit.key() != null) {
            assertTrue(run.err().contains(culprit.key()),
                    () -> "key " + culprit.key() + " not named: " + run);
        }
    }

    private static void assertOneLine(CliRun run) {
        List<String> lines = run.err().lines().toList();
        assertEquals(1, lines.size(), () -> "expected one line on stderr: " + run);
        assertTrue(lines.get(0).startsWith("moeshard: "), run::toString);
        assertFalse(run.err().contains("\tat ") || run.err().contains("Exception"), () -> "stack trace: " + run);
    }

    private static void assertNothingAt(Path output) {
        assertFalse(Files.exists(output), () -> output + " exists");
        assertNoStagingIn(output.toAbsolutePath().getParent());
    }

    private static void assertNoStagingIn(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(), files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".")).toList());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path copy(Path from, Path to) {
        try (Stream<Path> files = Files.list(from)) {
            Files.createDirectories(to);
            for (Path f : files.toList()) {
                Files.copy(f, to.resolve(f.getFileName()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return to;
    }
}
