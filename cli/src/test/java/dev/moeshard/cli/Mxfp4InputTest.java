package dev.moeshard.cli;

import dev.moeshard.convert.Mxfp4Checkpoints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.family.GroupedOnDiskConversion;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An MXFP4 GPT-OSS checkpoint ({@link Mxfp4Checkpoints}: the gpt_oss fixture with its expert weights replaced by
 * random {@code _blocks} and {@code _scales}) through to-grouped: decoded to [E, in, out] under the family's grouped
 * names, on every rank exactly what the library's conversion makes, and refused with the key named when a scale is
 * missing or mis-shaped.
 */
class Mxfp4InputTest {

    @Test
    void decodesToTheGroupedLayoutOnEveryRank(@TempDir Path dir) throws IOException {
        Path input = Mxfp4Checkpoints.write(dir, false, false);
        Path grouped = dir.resolve("grouped");
        CliRun run = CliRun.of("to-grouped", input.toString(), grouped.toString(), "--ep-size", "3", "--all-ranks",
                "--quiet");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        for (int r = 0; r < 3; r++) {
            DeviceMesh mesh = DeviceMesh.expertParallel(3, r);
            try (Checkpoint in = Checkpoint.open(input); Checkpoint out = Checkpoint.open(grouped.resolve("ep-rank-" + r))) {
                Map<String, Tensor> want = new GroupedOnDiskConversion(8).fromHf(in.tensors(), mesh, DType.BF16);
                assertEquals(want.keySet(), new java.util.HashSet<>(out.keys()));
                for (Map.Entry<String, Tensor> e : want.entrySet()) {
                    Tensor got = out.tensor(e.getKey());
                    assertArrayEquals(e.getValue().sizes(), got.sizes(), e.getKey());
                    assertEquals(e.getValue().dtype(), got.dtype(), e.getKey());
                    assertEquals(-1, e.getValue().contiguousCopy().segment().mismatch(got.segment()), e.getKey());
                }
                long experts = r == 2 ? 2 : 3;
                assertArrayEquals(new long[] {experts, 64, 64}, out.entry("model.layers.0.mlp.experts.gate_and_up_projs").shape());
                assertArrayEquals(new long[] {experts, 32, 64}, out.entry("model.layers.0.mlp.experts.down_projs").shape());
            }
        }
    }

    @Test
    void decodesToARequestedDtype(@TempDir Path dir) throws IOException {
        Path input = Mxfp4Checkpoints.write(dir, false, false);
        Path grouped = dir.resolve("grouped");
        CliRun run = CliRun.of("to-grouped", input.toString(), grouped.toString(), "--dtype", "f32", "--quiet");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        try (Checkpoint out = Checkpoint.open(grouped)) {
            assertEquals(DType.F32, out.entry("model.layers.1.mlp.experts.down_projs").dtype());
            assertEquals(DType.BF16, out.entry("model.layers.1.mlp.experts.down_proj_bias").dtype());
        }
    }

    @Test
    void missingOrMisShapedScalesAreRefusedWithTheKeyNamed(@TempDir Path dir) throws IOException {
        Path missing = Mxfp4Checkpoints.write(dir.resolve("a"), true, false);
        CliRun run = CliRun.of("to-grouped", missing.toString(), dir.resolve("out").toString());
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.err().contains("model.layers.0.mlp.experts.gate_up_proj_scales"), run.toString());
        Path shaped = Mxfp4Checkpoints.write(dir.resolve("b"), false, true);
        run = CliRun.of("to-grouped", shaped.toString(), dir.resolve("out").toString());
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.err().contains("model.layers.1.mlp.experts.down_proj_scales"), run.toString());
        assertFalse(Files.exists(dir.resolve("out")));
    }

    @Test
    void withoutConfigTheBlocksTellGptOssWithAndWithoutModel(@TempDir Path dir) throws IOException {
        Path input = Mxfp4Checkpoints.write(dir, false, false);
        Files.delete(input.resolve("config.json"));
        CliRun inspect = CliRun.of("inspect", input.toString());
        assertEquals(ExitCode.OK, inspect.code(), inspect.toString());
        assertTrue(inspect.out().contains("family:      gpt_oss (from tensor names and shapes)"), inspect.toString());
        assertTrue(inspect.out().contains("8 per layer"), inspect.toString());
        for (List<String> extra : List.of(List.<String>of(), List.of("--model", "gpt_oss"))) {
            Path out = dir.resolve("out" + extra.size());
            List<String> args = new java.util.ArrayList<>(List.of("to-grouped", input.toString(), out.toString(), "--quiet"));
            args.addAll(extra);
            CliRun run = CliRun.of(args.toArray(String[]::new));
            assertEquals(ExitCode.OK, run.code(), run.toString());
        }
    }
}
