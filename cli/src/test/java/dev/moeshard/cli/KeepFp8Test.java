package dev.moeshard.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A DeepSeek-style FP8 checkpoint (E4M3 weights with 128×128 block scales, partial blocks along H = 200) through
 * {@code to-grouped --dtype keep-fp8} and back through to-hf, byte for byte; bad scales refused with the key named.
 */
class KeepFp8Test {
    static final int E = 4;
    static final long H = 200;

    static Tensor randomBytes(SplittableRandom random, DType dtype, long... shape) {
        Tensor t = Tensor.allocate(dtype, shape);
        for (long i = 0; i < t.byteSize(); i++) {
            int b = random.nextInt(256);
            // 0x7F and 0xFF are E4M3's NaNs: real weights never hold them.
            t.segment().set(ValueLayout.JAVA_BYTE, i, (byte) ((b & 0x7F) == 0x7F ? 0x3C : b));
        }
        return t;
    }

    static Tensor randomScales(SplittableRandom random, long... shape) {
        Tensor t = Tensor.allocate(DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) {
            t.segment().setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) (random.nextDouble() * 1e-3 + 1e-5));
        }
        return t;
    }

    /** Two MoE layers of E experts (I = {@code inter}), attention q_proj in FP8, a BF16 norm. */
    static Path checkpoint(Path dir, long inter) {
        SplittableRandom random = new SplittableRandom(7);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (int layer = 0; layer < 2; layer++) {
            String p = "model.layers." + layer + ".";
            tensors.put(p + "input_layernorm.weight", randomBytes(random, DType.BF16, H));
            tensors.put(p + "self_attn.q_proj.weight", randomBytes(random, DType.F8_E4M3, H, H));
            tensors.put(p + "self_attn.q_proj.weight_scale_inv", randomScales(random, 2, 2));
            tensors.put(p + "mlp.gate.weight", randomBytes(random, DType.BF16, E, H));
            for (int e = 0; e < E; e++) {
                for (Projection proj : Projection.values()) {
                    long rows = proj == Projection.DOWN ? H : inter;
                    long cols = proj == Projection.DOWN ? inter : H;
                    String key = ExpertNaming.DEFAULT.perExpertKey("model.", layer, e, proj);
                    tensors.put(key, randomBytes(random, DType.F8_E4M3, rows, cols));
                    tensors.put(key + "_scale_inv", randomScales(random, Fp8BlockDequantizer.scaleShape(rows, cols)));
                }
            }
        }
        Path out = dir.resolve("fp8");
        ShardedCheckpointWriter.write(out, tensors, 1L << 30, Map.of("format", "pt"));
        return out;
    }

    @Test
    void keepFp8RoundTripsByteForByteOnEveryRankCount(@TempDir Path dir) {
        Path input = checkpoint(dir, 128);
        for (String[] ranks : new String[][] {{}, {"--ep-size", "3", "--all-ranks"}}) {
            Path grouped = dir.resolve("grouped" + ranks.length);
            String[] args = new String[] {"to-grouped", input.toString(), grouped.toString(), "--dtype", "keep-fp8", "--quiet"};
            String[] all = java.util.stream.Stream.concat(java.util.Arrays.stream(args), java.util.Arrays.stream(ranks))
                    .toArray(String[]::new);
            CliRun run = CliRun.of(all);
            assertEquals(ExitCode.OK, run.code(), run.toString());
            Path first = ranks.length == 0 ? grouped : grouped.resolve("ep-rank-0");
            try (Checkpoint out = Checkpoint.open(first)) {
                long local = ranks.length == 0 ? E : 2;
                assertEquals(DType.F8_E4M3, out.entry("model.layers.1.mlp.experts.gate_and_up_projs").dtype());
                assertArrayEquals(new long[] {local, 2, 2},
                        out.entry("model.layers.1.mlp.experts.gate_and_up_projs_scale_inv").shape());
                assertArrayEquals(new long[] {local, 1, 2},
                        out.entry("model.layers.1.mlp.experts.down_projs_scale_inv").shape());
                assertEquals(DType.F8_E4M3, out.entry("model.layers.0.self_attn.q_proj.weight").dtype());
            }
            Path back = dir.resolve("back" + ranks.length);
            CliRun toHf = CliRun.of("to-hf", grouped.toString(), back.toString(), "--quiet");
            assertEquals(ExitCode.OK, toHf.code(), toHf.toString());
            RoundTrip.assertSameTensors(input, back);
        }
    }

    @Test
    void anIntermediateSizeOffTheBlockGridIsRefused(@TempDir Path dir) {
        Path input = checkpoint(dir, 96);
        CliRun run = CliRun.of("to-grouped", input.toString(), dir.resolve("out").toString(), "--dtype", "keep-fp8");
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.err().contains("not a multiple") && run.err().contains("dequantize"), run.toString());
        assertFalse(Files.exists(dir.resolve("out")));
    }

    @Test
    void missingOrMisShapedScalesAreRefusedWithTheKeyNamed(@TempDir Path dir) {
        String gone = "model.layers.1.mlp.experts.2.up_proj.weight_scale_inv";
        Path missing = checkpoint(dir.resolve("a"), 128);
        TestCheckpoints.removeTensor(missing, gone);
        CliRun run = CliRun.of("to-grouped", missing.toString(), dir.resolve("out").toString());
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.err().contains(gone), run.toString());

        String bad = "model.layers.0.self_attn.q_proj.weight_scale_inv";
        Path shaped = checkpoint(dir.resolve("b"), 128);
        TestCheckpoints.replaceTensor(shaped, bad, Tensor.allocate(DType.F32, 1, 2));
        run = CliRun.of("to-grouped", shaped.toString(), dir.resolve("out").toString(), "--dtype", "keep-fp8");
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.err().contains(bad) && run.err().contains("[2, 2]"), run.toString());
        assertFalse(Files.exists(dir.resolve("out")));
    }
}
