package dev.moeshard.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.convert.Fixtures;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Granite MoE (experts grouped on disk as {@code block_sparse_moe.input_linear.weight} [E, 2I, H] and
 * {@code output_linear.weight} [E, H, I]) from the command line: into vllm on an uneven three ranks, those ranks
 * regrouped into deepep on one, each inspected, and to-hf of the regrouped output gives back the input's own tensors
 * and names, byte for byte.
 */
class RegroupedOnDiskFamilyTest {
    private static final Path GRANITE = Fixtures.ROOT.resolve("families").resolve("granitemoe");

    @Test
    void aRegroupedOutputRegroupsAgainInspectsAndComesBackByteForByte(@TempDir Path dir) {
        Path vllm = dir.resolve("vllm");
        CliRun toVllm = CliRun.of("to-grouped", GRANITE.toString(), vllm.toString(), "--layout", "vllm",
                "--ep-size", "3", "--all-ranks", "--quiet");
        assertEquals(ExitCode.OK, toVllm.code(), toVllm.toString());
        CliRun inspectVllm = CliRun.of("inspect", vllm.toString());
        assertEquals(ExitCode.OK, inspectVllm.code(), inspectVllm.toString());
        assertTrue(inspectVllm.out().contains("family:      granitemoe (from config.json)"), inspectVllm.toString());
        assertTrue(inspectVllm.out().contains("layout:      vllm"), inspectVllm.toString());
        assertTrue(inspectVllm.out().contains("experts:     8 per layer, gated, H=64 I=96"), inspectVllm.toString());
        assertTrue(inspectVllm.out().contains("layers:      2 with experts [model.layers.0, model.layers.1]"),
                inspectVllm.toString());
        assertTrue(inspectVllm.out().contains("rank:        ep-rank-2: experts [6, 8)"), inspectVllm.toString());

        Path deepep = dir.resolve("deepep");
        CliRun regroup = CliRun.of("to-grouped", vllm.toString(), deepep.toString(), "--layout", "deepep", "--quiet");
        assertEquals(ExitCode.OK, regroup.code(), regroup.toString());
        Path direct = dir.resolve("direct");
        CliRun toDeepep = CliRun.of("to-grouped", GRANITE.toString(), direct.toString(), "--layout", "deepep",
                "--quiet");
        assertEquals(ExitCode.OK, toDeepep.code(), toDeepep.toString());
        RoundTrip.assertSameTensors(direct, deepep);
        CliRun inspectDeepep = CliRun.of("inspect", deepep.toString());
        assertEquals(ExitCode.OK, inspectDeepep.code(), inspectDeepep.toString());
        assertTrue(inspectDeepep.out().contains("layout:      deepep"), inspectDeepep.toString());
        assertTrue(inspectDeepep.out().contains("rank:        deepep: experts [0, 8)"), inspectDeepep.toString());

        Path back = dir.resolve("back");
        CliRun toHf = CliRun.of("to-hf", deepep.toString(), back.toString(), "--quiet");
        assertEquals(ExitCode.OK, toHf.code(), toHf.toString());
        RoundTrip.assertSameTensors(GRANITE, back);
        CliRun verify = CliRun.of("verify", GRANITE.toString(), deepep.toString());
        assertEquals(ExitCode.OK, verify.code(), verify.toString());
    }
}
