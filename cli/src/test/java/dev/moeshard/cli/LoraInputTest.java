package dev.moeshard.cli;

import dev.moeshard.convert.Fixtures;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.SafetensorsWriter;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Expert LoRA through to-grouped and back: synthetic PEFT adapters on the qwen3_moe fixture's shapes (E=8, H=64,
 * I=32, rank 4), per-expert and ParamWrapper, alone and beside the base weights.
 */
class LoraInputTest {
    private static final int E = 8;
    private static final long H = 64;
    private static final long I = 32;
    private static final long R = 4;
    private static final String P = "base_model.model.model.layers.";

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void perExpertAdapterRoundTripsByteForByte(boolean withBase, @TempDir Path dir) throws IOException {
        Path in = perExpertAdapter(dir.resolve("in"), withBase, true);
        Path grouped = dir.resolve("grouped");
        CliRun run = CliRun.of("to-grouped", in.toString(), grouped.toString(), "--quiet");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        try (Checkpoint c = Checkpoint.open(grouped)) {
            assertArrayEquals(new long[] {E, H, R}, c.entry(P + "1.mlp.experts.lora_gate_and_up_A").shape());
            assertArrayEquals(new long[] {E, R, 2 * I}, c.entry(P + "1.mlp.experts.lora_gate_and_up_B").shape());
            assertArrayEquals(new long[] {E, I, R}, c.entry(P + "1.mlp.experts.lora_down_A").shape());
            assertArrayEquals(new long[] {E, R, H}, c.entry(P + "1.mlp.experts.lora_down_B").shape());
            assertFalse(c.contains(P + "1.mlp.experts.0.gate_proj.lora_A.weight"));
        }
        Path back = dir.resolve("back");
        CliRun toHf = CliRun.of("to-hf", grouped.toString(), back.toString(), "--quiet");
        assertEquals(ExitCode.OK, toHf.code(), toHf.toString());
        RoundTrip.assertSameTensors(in, back);
    }

    @Test
    void eachRankKeepsTheLoraOfItsExpertsAndAllMergeBack(@TempDir Path dir) throws IOException {
        Path in = perExpertAdapter(dir.resolve("in"), true, true);
        Path grouped = dir.resolve("grouped");
        CliRun run = CliRun.of("to-grouped", in.toString(), grouped.toString(), "--ep-size", "3", "--all-ranks", "--quiet");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        try (Checkpoint rank2 = Checkpoint.open(grouped.resolve("ep-rank-2"))) {
            assertArrayEquals(new long[] {2, H, 2 * I}, rank2.entry("model.layers.0.mlp.experts.gate_and_up_projs").shape());
            assertArrayEquals(new long[] {2, H, R}, rank2.entry(P + "0.mlp.experts.lora_gate_and_up_A").shape());
        }
        CliRun verify = CliRun.of("verify", in.toString(), grouped.toString());
        assertEquals(ExitCode.OK, verify.code(), verify.toString());
        Path back = dir.resolve("back");
        CliRun toHf = CliRun.of("to-hf", grouped.toString(), back.toString(), "--quiet");
        assertEquals(ExitCode.OK, toHf.code(), toHf.toString());
        RoundTrip.assertSameTensors(in, back);
    }

    @Test
    void paramWrapperAdapterRoundTripsByteForByte(@TempDir Path dir) throws IOException {
        Path in = paramWrapperAdapter(dir.resolve("in"));
        Path grouped = dir.resolve("grouped");
        CliRun run = CliRun.of("to-grouped", in.toString(), grouped.toString(), "--lora-format", "paramwrapper", "--quiet");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        try (Checkpoint c = Checkpoint.open(grouped)) {
            assertArrayEquals(new long[] {E, R, 2 * I}, c.entry(P + "0.mlp.experts.lora_gate_and_up_B").shape());
            assertArrayEquals(new long[] {E, I, R}, c.entry(P + "0.mlp.experts.lora_down_A").shape());
        }
        Path back = dir.resolve("back");
        assertEquals(ExitCode.OK, CliRun.of("verify", in.toString(), grouped.toString()).code());
        CliRun toHf = CliRun.of("to-hf", grouped.toString(), back.toString(), "--lora-format", "paramwrapper", "--quiet");
        assertEquals(ExitCode.OK, toHf.code(), toHf.toString());
        RoundTrip.assertSameTensors(in, back);
    }

    @Test
    void refusesWhatWouldLoseOrMisreadData(@TempDir Path dir) throws IOException {
        Path differentA = perExpertAdapter(dir.resolve("different-a"), false, false);
        CliRun run = CliRun.of("to-grouped", differentA.toString(), dir.resolve("out").toString());
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.err().contains("so converting would lose up's"), run.toString());
        assertFalse(Files.exists(dir.resolve("out")));

        Path perExpert = perExpertAdapter(dir.resolve("per-expert"), false, true);
        CliRun wrongLayout = CliRun.of("to-grouped", perExpert.toString(), dir.resolve("out").toString(),
                "--lora-format", "paramwrapper");
        assertEquals(ExitCode.INVALID_INPUT, wrongLayout.code(), wrongLayout.toString());
        assertTrue(wrongLayout.err().contains("--lora-format paramwrapper, but the input holds per-expert"), wrongLayout.toString());

        TestCheckpoints.removeTensor(perExpert, P + "1.mlp.experts.5.down_proj.lora_B.weight");
        CliRun missing = CliRun.of("to-grouped", perExpert.toString(), dir.resolve("out").toString());
        assertEquals(ExitCode.INVALID_INPUT, missing.code(), missing.toString());
        assertTrue(missing.err().contains("experts [5] are missing"), missing.toString());
        assertFalse(Files.exists(dir.resolve("out")));
    }

    /** A PEFT per-expert adapter (gate's and up's A equal when {@code sharedA}), with the fixture's weights or not. */
    private static Path perExpertAdapter(Path dir, boolean withBase, boolean sharedA) throws IOException {
        Random random = new Random(7);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        if (withBase) {
            tensors.putAll(fixtureTensors());
        }
        for (int layer = 0; layer < 2; layer++) {
            for (int e = 0; e < E; e++) {
                String x = P + layer + ".mlp.experts." + e + ".";
                Tensor a = random(random, R, H);
                tensors.put(x + "gate_proj.lora_A.weight", a);
                tensors.put(x + "gate_proj.lora_B.weight", random(random, I, R));
                tensors.put(x + "up_proj.lora_A.weight", sharedA ? a.contiguousCopy() : random(random, R, H));
                tensors.put(x + "up_proj.lora_B.weight", random(random, I, R));
                tensors.put(x + "down_proj.lora_A.weight", random(random, R, I));
                tensors.put(x + "down_proj.lora_B.weight", random(random, H, R));
            }
        }
        return write(dir, tensors);
    }

    /** A PEFT ParamWrapper adapter of fused experts: the expert axis folded into the LoRA rank. */
    private static Path paramWrapperAdapter(Path dir) throws IOException {
        Random random = new Random(11);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (int layer = 0; layer < 2; layer++) {
            String x = P + layer + ".mlp.experts.";
            tensors.put(x + "lora_A.weight", random(random, R * E, H));
            tensors.put(x + "lora_B.weight", random(random, I, R * E));
            tensors.put(x + "base_layer.lora_A.weight", random(random, R * E, 2 * I));
            tensors.put(x + "base_layer.lora_B.weight", random(random, H, R * E));
        }
        return write(dir, tensors);
    }

    private static Map<String, Tensor> fixtureTensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (Checkpoint in = Checkpoint.open(Fixtures.of("qwen3_moe"))) {
            for (String key : in.keys()) {
                out.put(key, in.tensor(key).contiguousCopy());
            }
        }
        return out;
    }

    private static Path write(Path dir, Map<String, Tensor> tensors) throws IOException {
        Files.createDirectories(dir);
        SafetensorsWriter.write(dir.resolve("adapter_model.safetensors"), tensors, Map.of("format", "pt"));
        Files.copy(Fixtures.of("qwen3_moe").resolve("config.json"), dir.resolve("config.json"));
        return dir;
    }

    private static Tensor random(Random random, long rows, long cols) {
        Tensor t = Tensor.allocate(DType.BF16, rows, cols);
        for (long i = 0; i < rows * cols; i++) {
            // Finite BF16 values: a random sign and mantissa, an exponent near 1.
            short bits = (short) ((random.nextInt(2) << 15) | ((120 + random.nextInt(8)) << 7) | random.nextInt(128));
            t.segment().setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, bits);
        }
        return t;
    }
}
