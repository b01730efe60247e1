package dev.moeshard.cli;

import dev.moeshard.convert.Fixtures;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** transformers-v5 fused input ({@code gate_up_proj} [E, 2I, H], {@code down_proj} [E, H, I]) through to-grouped. */
class FusedInputTest {
    private static final int E = 8;
    private static final long H = 64;
    private static final long I = 32;

    @Test
    void fusedInputGroupsToWhatThePerExpertInputGroupsTo(@TempDir Path dir) throws IOException {
        Path fused = fusedCopyOfQwen3(dir.resolve("fused"), true);
        Path fromFused = dir.resolve("from-fused");
        Path fromPerExpert = dir.resolve("from-per-expert");
        CliRun run = CliRun.of("to-grouped", fused.toString(), fromFused.toString(), "--ep-size", "3", "--all-ranks",
                "--quiet");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertEquals(ExitCode.OK, CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), fromPerExpert.toString(),
                "--ep-size", "3", "--all-ranks", "--quiet").code());
        for (int r = 0; r < 3; r++) {
            RoundTrip.assertSameTensors(fromPerExpert.resolve("ep-rank-" + r), fromFused.resolve("ep-rank-" + r));
        }
        assertEquals(ExitCode.OK, CliRun.of("verify", Fixtures.of("qwen3_moe").toString(), fromFused.toString()).code());
    }

    @Test
    void fusedInputWithoutConfigAndAFusedTensorOfAnotherShape(@TempDir Path dir) throws IOException {
        Path fused = fusedCopyOfQwen3(dir.resolve("fused"), false);
        Path out = dir.resolve("out");
        assertEquals(ExitCode.OK, CliRun.of("to-grouped", fused.toString(), out.toString(), "--quiet").code());
        try (Checkpoint c = Checkpoint.open(out)) {
            assertTrue(c.contains("model.layers.1.mlp.experts.gate_and_up_projs"));
        }
        Path bad = fusedCopyOfQwen3(dir.resolve("bad"), true);
        TestCheckpoints.replaceTensor(bad, "model.layers.1.mlp.experts.down_proj",
                Tensor.allocate(dev.moeshard.tensor.DType.BF16, E, H, I + 1));
        CliRun refused = CliRun.of("to-grouped", bad.toString(), dir.resolve("no").toString());
        assertEquals(ExitCode.INVALID_INPUT, refused.code(), refused.toString());
        assertTrue(refused.err().contains("model.layers.1.mlp.experts.down_proj: a transformers-v5 fused expert tensor"),
                refused.toString());
        assertFalse(Files.exists(dir.resolve("no")));
    }

    /** qwen3_moe with each layer's experts fused as transformers v5 saves them: gate rows before up rows. */
    private static Path fusedCopyOfQwen3(Path target, boolean withConfig) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (Checkpoint in = Checkpoint.open(Fixtures.of("qwen3_moe"))) {
            for (String key : in.keys()) {
                if (!key.contains(".mlp.experts.")) {
                    tensors.put(key, in.tensor(key).contiguousCopy());
                }
            }
            for (int layer = 0; layer < 2; layer++) {
                String p = "model.layers." + layer + ".mlp.experts.";
                Tensor gateUp = Tensor.allocate(in.entry(p + "0.up_proj.weight").dtype(), E, 2 * I, H);
                Tensor down = Tensor.allocate(in.entry(p + "0.down_proj.weight").dtype(), E, H, I);
                for (int e = 0; e < E; e++) {
                    gateUp.select(0, e).narrow(0, 0, I).copyFrom(in.tensor(p + e + ".gate_proj.weight"));
                    gateUp.select(0, e).narrow(0, I, I).copyFrom(in.tensor(p + e + ".up_proj.weight"));
                    down.select(0, e).copyFrom(in.tensor(p + e + ".down_proj.weight"));
                }
                tensors.put(p + "gate_up_proj", gateUp);
                tensors.put(p + "down_proj", down);
            }
        }
        ShardedCheckpointWriter.write(target, tensors, Long.MAX_VALUE, Map.of("format", "pt"));
        if (withConfig) {
            Files.copy(Fixtures.of("qwen3_moe").resolve("config.json"), target.resolve("config.json"));
        }
        return target;
    }
}
