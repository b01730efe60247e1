package dev.moeshard.cli;

import dev.moeshard.convert.Fixtures;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code to-hf --quantize fp8-block128} on the qwen3_moe fixture: what gets quantized, and how close it stays. */
class QuantizeOnExportTest {

    /** One E4M3 step at magnitude {@code v}: 2^(e − 3) for normals, 2^-9 below 2^-6. */
    static double e4m3Step(double v) {
        return v < 0x1p-6 ? 0x1p-9 : Math.scalb(1.0, Math.getExponent(v) - 3);
    }

    @Test
    void writesFp8ProjectionsWithBlockScalesAndLeavesTheRest(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        assertEquals(ExitCode.OK, CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), grouped.toString(),
                "--quiet").code());
        Path fp8 = dir.resolve("fp8");
        CliRun run = CliRun.of("to-hf", grouped.toString(), fp8.toString(), "--quantize", "fp8-block128", "--quiet");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        try (Checkpoint in = Checkpoint.open(Fixtures.of("qwen3_moe")); Checkpoint out = Checkpoint.open(fp8)) {
            int quantized = 0;
            for (String key : in.keys()) {
                boolean projection = key.matches(".*(_proj)\\.weight");
                Tensor original = in.tensor(key);
                Tensor got = out.tensor(key);
                if (!projection) {
                    assertEquals(original.dtype(), got.dtype(), key);
                    assertTrue(!out.contains(key + "_scale_inv"), key);
                    continue;
                }
                quantized++;
                assertEquals(DType.F8_E4M3, got.dtype(), key);
                Tensor scales = out.tensor(key + "_scale_inv");
                assertArrayEquals(Fp8BlockDequantizer.scaleShape(original.size(0), original.size(1)), scales.sizes(), key);
                Tensor dq = Fp8BlockDequantizer.dequantize(got, scales, DType.F32, key);
                for (long r = 0; r < original.size(0); r++) {
                    for (long c = 0; c < original.size(1); c++) {
                        double w = original.getDouble(r, c);
                        double scale = scales.getDouble(r / 128, c / 128);
                        double step = scale == 0 ? 0 : e4m3Step(Math.abs(w) / scale) * scale;
                        assertTrue(Math.abs(dq.getDouble(r, c) - w) <= step * (1 + 1e-6), key + " at " + r + "," + c);
                    }
                }
            }
            assertTrue(quantized > 16, "only " + quantized + " tensors quantized");
            assertEquals(DType.BF16, out.entry("model.layers.0.mlp.gate.weight").dtype());
        }
        // The quantized checkpoint is a valid FP8 input: to-grouped dequantizes it.
        CliRun again = CliRun.of("to-grouped", fp8.toString(), dir.resolve("again").toString(), "--quiet");
        assertEquals(ExitCode.OK, again.code(), again.toString());
    }
}
