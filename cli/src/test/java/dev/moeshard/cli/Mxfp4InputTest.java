package dev.moeshard.cli;

import dev.moeshard.convert.Fixtures;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.family.GroupedOnDiskConversion;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An MXFP4 GPT-OSS checkpoint (the gpt_oss fixture with its expert weights replaced by random {@code _blocks} and
 * {@code _scales}) through to-grouped: decoded to [E, in, out] under the family's grouped names, on every rank exactly
 * what the library's conversion makes, and refused with the key named when a scale is missing or mis-shaped.
 */
class Mxfp4InputTest {

    /** The fixture with gate_up_proj and down_proj of every layer as MXFP4 pairs, written to {@code dir}. */
    static Path mxfp4Checkpoint(Path dir, boolean dropOneScale, boolean misShapeOneScale) throws IOException {
        SplittableRandom random = new SplittableRandom(42);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (Checkpoint in = Checkpoint.open(Fixtures.of("gpt_oss"))) {
            for (String key : in.keys()) {
                Tensor t = in.tensor(key);
                if (!key.endsWith("experts.gate_up_proj") && !key.endsWith("experts.down_proj")) {
                    tensors.put(key, t.contiguousCopy());
                    continue;
                }
                // [E, in, out] on disk in BF16; MXFP4 stores [E, out, in/32, 16].
                long experts = t.size(0);
                long in32 = t.size(1) / 32;
                long out = t.size(2);
                Tensor blocks = Tensor.allocate(DType.U8, experts, out, in32, 16);
                Tensor scales = Tensor.allocate(DType.U8, experts, out, misShapeOneScale && key.contains("layers.1.")
                        && key.endsWith("down_proj") ? in32 + 1 : in32);
                for (long i = 0; i < blocks.numel(); i++) {
                    blocks.segment().set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
                }
                for (long i = 0; i < scales.numel(); i++) {
                    scales.segment().set(ValueLayout.JAVA_BYTE, i, (byte) (118 + random.nextInt(12)));
                }
                tensors.put(key + "_blocks", blocks);
                if (!(dropOneScale && key.contains("layers.0.") && key.endsWith("gate_up_proj"))) {
                    tensors.put(key + "_scales", scales);
                }
            }
        }
        Path out = dir.resolve("mxfp4");
        ShardedCheckpointWriter.write(out, tensors, 1L << 30, Map.of("format", "pt"));
        Files.copy(Fixtures.of("gpt_oss").resolve("config.json"), out.resolve("config.json"));
        return out;
    }

    @Test
    void decodesToTheGroupedLayoutOnEveryRank(@TempDir Path dir) throws IOException {
        Path input = mxfp4Checkpoint(dir, false, false);
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
        Path input = mxfp4Checkpoint(dir, false, false);
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
        Path missing = mxfp4Checkpoint(dir.resolve("a"), true, false);
        CliRun run = CliRun.of("to-grouped", missing.toString(), dir.resolve("out").toString());
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.err().contains("model.layers.0.mlp.experts.gate_up_proj_scales"), run.toString());
        Path shaped = mxfp4Checkpoint(dir.resolve("b"), false, true);
        run = CliRun.of("to-grouped", shaped.toString(), dir.resolve("out").toString());
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.err().contains("model.layers.1.mlp.experts.down_proj_scales"), run.toString());
        assertFalse(Files.exists(dir.resolve("out")));
    }

    @Test
    void withoutConfigTheBlocksTellGptOssWithAndWithoutModel(@TempDir Path dir) throws IOException {
        Path input = mxfp4Checkpoint(dir, false, false);
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
