package dev.moeshard.cli;

import dev.moeshard.convert.Fixtures;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.family.GroupedOnDiskConversion;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gpt_oss fixture (8 experts, grouped on disk with gate and up interleaved) through to-grouped, verify and
 * to-hf: renames (none for hf-v5) and expert-axis cuts exactly as {@link GroupedOnDiskConversion} makes them, and the
 * original back.
 */
class GptOssTest {

    @Test
    void epOneRenamesAndRoundTripsByteForByte(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        CliRun run = CliRun.of("to-grouped", Fixtures.of("gpt_oss").toString(), grouped.toString());
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertTrue(run.err().contains("layer model.layers.1"), run.toString());
        assertMatchesConversion(grouped, null);
        assertVerifiesAndRoundTrips(dir, grouped);
    }

    @Test
    void allRanksOfThreeCutTheExpertAxis(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        CliRun run = CliRun.of("to-grouped", Fixtures.of("gpt_oss").toString(), grouped.toString(), "--ep-size", "3",
                "--all-ranks", "--quiet");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        for (int r = 0; r < 3; r++) {
            assertMatchesConversion(grouped.resolve("ep-rank-" + r), DeviceMesh.expertParallel(3, r));
        }
        try (Checkpoint rank2 = Checkpoint.open(grouped.resolve("ep-rank-2"))) {
            assertArrayEquals(new long[] {2, 64, 64}, rank2.entry("model.layers.0.mlp.experts.gate_and_up_projs").shape());
            assertArrayEquals(new long[] {2, 64}, rank2.entry("model.layers.0.mlp.experts.gate_up_proj_bias").shape());
            assertArrayEquals(new long[] {8, 64}, rank2.entry("model.layers.0.mlp.gate.weight").shape());
        }
        assertVerifiesAndRoundTrips(dir, grouped);
    }

    /**
     * {@code --layout hf-v5} keeps every name: on three ranks each holds the fixture's tensors, its experts cut, and
     * the summary, verify, inspect and to-hf take them as hf-v5.
     */
    @Test
    void hfV5KeepsTheCheckpointsNamesOnEveryRank(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        CliRun run = CliRun.of("to-grouped", Fixtures.of("gpt_oss").toString(), grouped.toString(), "--layout", "hf-v5",
                "--ep-size", "3", "--all-ranks");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertTrue(run.err().contains("input grouped on disk written as hf-v5"), run.toString());
        try (Checkpoint in = Checkpoint.open(Fixtures.of("gpt_oss"));
             Checkpoint rank2 = Checkpoint.open(grouped.resolve("ep-rank-2"))) {
            assertEquals(new java.util.TreeSet<>(in.keys()), new java.util.TreeSet<>(rank2.keys()));
            assertArrayEquals(new long[] {2, 64, 64}, rank2.entry("model.layers.0.mlp.experts.gate_up_proj").shape());
            assertArrayEquals(new long[] {8, 64}, rank2.entry("model.layers.0.mlp.router.weight").shape());
        }
        CliRun inspect = CliRun.of("inspect", grouped.toString());
        assertEquals(ExitCode.OK, inspect.code(), inspect.toString());
        assertTrue(inspect.out().contains("hf-v5 (gpt_oss's own tensors and names, as transformers 5 loads them)"),
                inspect.toString());
        assertVerifiesAndRoundTrips(dir, grouped);
    }

    @Test
    void refusesADtypeConversion(@TempDir Path dir) {
        CliRun run = CliRun.of("to-grouped", Fixtures.of("gpt_oss").toString(), dir.resolve("out").toString(),
                "--dtype", "f32");
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertFalse(dir.resolve("out").toFile().exists());
    }

    private static void assertVerifiesAndRoundTrips(Path dir, Path grouped) {
        CliRun verify = CliRun.of("verify", Fixtures.of("gpt_oss").toString(), grouped.toString());
        assertEquals(ExitCode.OK, verify.code(), verify.toString());
        Path back = dir.resolve("back");
        CliRun toHf = CliRun.of("to-hf", grouped.toString(), back.toString(), "--quiet");
        assertEquals(ExitCode.OK, toHf.code(), toHf.toString());
        RoundTrip.assertSameTensors(Fixtures.of("gpt_oss"), back);
    }

    /** {@code output} holds exactly what the library's conversion makes of the fixture for {@code mesh}. */
    private static void assertMatchesConversion(Path output, DeviceMesh mesh) {
        try (Checkpoint in = Checkpoint.open(Fixtures.of("gpt_oss")); Checkpoint out = Checkpoint.open(output)) {
            Map<String, Tensor> want = new GroupedOnDiskConversion(8).fromHf(in.tensors(), mesh);
            assertEquals(want.keySet(), new java.util.HashSet<>(out.keys()));
            for (Map.Entry<String, Tensor> e : want.entrySet()) {
                Tensor got = out.tensor(e.getKey());
                assertArrayEquals(e.getValue().sizes(), got.sizes(), e.getKey());
                assertEquals(-1, e.getValue().contiguousCopy().segment().mismatch(got.segment()), e.getKey());
            }
        }
    }
}
