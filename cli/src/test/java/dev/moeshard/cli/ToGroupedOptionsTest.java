package dev.moeshard.cli;

import dev.moeshard.convert.Fixtures;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.family.FamilyDetection;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import dev.moeshard.cuda.Cuda;
import org.junit.jupiter.api.io.TempDir;

/** to-grouped's model, device, thread and FP8 handling, end to end. */
class ToGroupedOptionsTest {
    private static final String Q_PROJ = "model.layers.0.self_attn.q_proj.weight";

    @Test
    void fp8ExpertsAndWeightsAreDequantizedAsTheAdapterDoes(@TempDir Path dir) {
        Path input = fp8Copy("qwen3_moe", dir.resolve("fp8"));
        Path output = dir.resolve("out");
        CliRun run = CliRun.of("to-grouped", input.toString(), output.toString(), "--ep-size", "2", "--all-ranks");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        for (int r = 0; r < 2; r++) {
            Path rank = output.resolve("ep-rank-" + r);
            assertMatchesAdapter(input, rank, DeviceMesh.expertParallel(2, r));
            try (Checkpoint out = Checkpoint.open(rank)) {
                assertEquals(DType.BF16, out.entry("model.layers.1.mlp.experts.gate_and_up_projs").dtype());
                assertEquals(DType.BF16, out.entry(Q_PROJ).dtype());
                assertTrue(out.keys().stream().noneMatch(k -> k.endsWith(Fp8BlockDequantizer.SCALE_SUFFIX)));
            }
        }
    }

    /** hf-v5 and vLLM keep each expert's rows in order, so its weight is dequantized straight into the output. */
    @Test
    void fp8ExpertsDequantizeIntoLayoutsThatKeepTheRowOrder(@TempDir Path dir) {
        Path input = fp8Copy("qwen3_moe", dir.resolve("fp8"));
        for (GroupedLayout layout : new GroupedLayout[] {GroupedLayout.HF_V5, GroupedLayout.VLLM}) {
            Path output = dir.resolve(layout.cliName());
            CliRun run = CliRun.of("to-grouped", input.toString(), output.toString(), "--layout", layout.cliName(),
                    "--quiet");
            assertEquals(ExitCode.OK, run.code(), run.toString());
            assertMatchesAdapter(input, output, null, layout);
        }
    }

    @Test
    void modelByNameWithoutConfigAndProgressPerLayer(@TempDir Path dir) throws Exception {
        Path input = Fixtures.copy("qwen3_moe", dir);
        Files.delete(input.resolve("config.json"));
        Path output = dir.resolve("out");
        CliRun run = CliRun.of("to-grouped", input.toString(), output.toString(), "--model", "qwen3_moe",
                "--num-experts", "8", "--threads", "3", "--device", "cpu");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertTrue(run.err().contains("layer model.layers.0 (24 expert tensors): "), run.toString());
        assertTrue(run.err().contains("layer model.layers.1 (24 expert tensors): "), run.toString());
        assertTrue(run.err().matches("(?s).*layer model\\.layers\\.1 \\(24 expert tensors\\): [0-9.]+ of [0-9.]+ GB "
                + "\\(\\d+%\\), [0-9.]+ GB/s, ETA \\d+ s.*"), run.toString());
        assertMatchesAdapter(Fixtures.of("qwen3_moe"), output, null);
        assertEquals(ExitCode.OK, CliRun.of("verify", Fixtures.of("qwen3_moe").toString(), output.toString()).code());
    }

    @Test
    void anUnknownModelIsAUsageErrorAndTooFewExpertsAreInvalid(@TempDir Path dir) {
        CliRun unknown = CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), dir.resolve("a").toString(),
                "--model", "llama");
        assertEquals(ExitCode.USAGE, unknown.code(), unknown.toString());
        assertTrue(unknown.err().contains("qwen3_moe"), unknown.toString());
        CliRun few = CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), dir.resolve("b").toString(),
                "--num-experts", "4");
        assertEquals(ExitCode.INVALID_INPUT, few.code(), few.toString());
        assertTrue(few.err().contains("expert 7 is beyond the model's 4 experts"), few.toString());
        assertFalse(Files.exists(dir.resolve("a")));
        assertFalse(Files.exists(dir.resolve("b")));
    }

    @Test
    void cudaWhereThereIsNoneIsAMissingDeviceWithTheReasonsAndAutoRunsOnTheCpu(@TempDir Path dir) {
        assumeFalse(Cuda.availability().available(), "this machine has CUDA; the GPU tests cover --device cuda");
        CliRun cuda = CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), dir.resolve("a").toString(),
                "--device", "cuda");
        assertEquals(ExitCode.DEVICE_MISSING, cuda.code(), cuda.toString());
        assertEquals(1, cuda.err().lines().count(), cuda.toString());
        assertTrue(cuda.err().contains(Cuda.availability().reasons().get(0)), cuda.toString());
        assertFalse(Files.exists(dir.resolve("a")));
        CliRun auto = CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), dir.resolve("b").toString(),
                "--device", "auto", "--quiet");
        assertEquals(ExitCode.OK, auto.code(), auto.toString());
        assertEquals("", auto.err());
        assertEquals(ExitCode.USAGE, CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(),
                dir.resolve("c").toString(), "--device", "tpu").code());
    }

    /** A copy of fixture {@code name} with every expert weight and one attention weight as FP8 with block scales. */
    static Path fp8Copy(String name, Path target) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (Checkpoint in = Checkpoint.open(Fixtures.of(name))) {
            for (String key : in.keys()) {
                Tensor t = in.tensor(key).contiguousCopy();
                if (key.contains(".mlp.experts.") || key.equals(Q_PROJ)) {
                    tensors.put(key, t.to(DType.F8_E4M3));
                    Tensor scale = Tensor.allocate(DType.F32, Fp8BlockDequantizer.scaleShape(t.size(0), t.size(1)));
                    for (long i = 0; i < scale.size(0); i++) {
                        for (long j = 0; j < scale.size(1); j++) {
                            scale.setDouble(0.5 + key.length() % 5, i, j);
                        }
                    }
                    tensors.put(key + Fp8BlockDequantizer.SCALE_SUFFIX, scale);
                } else {
                    tensors.put(key, t);
                }
            }
        }
        ShardedCheckpointWriter.write(target, tensors, Long.MAX_VALUE, Map.of("format", "pt"));
        try {
            Files.copy(Fixtures.of(name).resolve("config.json"), target.resolve("config.json"));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return target;
    }

    /** The output holds exactly what the adapter's fromHf of the input gives for {@code mesh}. */
    private static void assertMatchesAdapter(Path input, Path output, DeviceMesh mesh) {
        assertMatchesAdapter(input, output, mesh, GroupedLayout.DEEPEP);
    }

    private static void assertMatchesAdapter(Path input, Path output, DeviceMesh mesh, GroupedLayout layout) {
        var model = FamilyDetection.fromConfigFile(Fixtures.of("qwen3_moe").resolve("config.json"));
        try (Checkpoint in = Checkpoint.open(input); Checkpoint out = Checkpoint.open(output)) {
            Map<String, Tensor> expected = model.adapter(layout).fromHf(in.tensors(),
                    FromHfOptions.defaults().withMesh(mesh));
            assertEquals(new HashSet<>(expected.keySet()), new HashSet<>(out.keys()));
            for (Map.Entry<String, Tensor> e : expected.entrySet()) {
                Tensor got = out.tensor(e.getKey());
                assertEquals(e.getValue().dtype(), got.dtype(), e.getKey());
                assertArrayEquals(e.getValue().sizes(), got.sizes(), e.getKey());
                assertEquals(-1, e.getValue().contiguousCopy().segment().mismatch(got.segment()), e.getKey() + " differs");
            }
        }
    }
}
