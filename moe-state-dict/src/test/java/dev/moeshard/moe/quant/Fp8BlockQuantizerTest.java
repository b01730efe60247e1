package dev.moeshard.moe.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Re-quantization to FP8 blocks: the scale grid with partial edge blocks, amax/448, and one FP8 step of error. */
class Fp8BlockQuantizerTest {

    /** One E4M3 step at magnitude {@code v}: 2^(e − 3) for normals, 2^-9 below 2^-6. */
    static double e4m3Step(double v) {
        return v < 0x1p-6 ? 0x1p-9 : Math.scalb(1.0, Math.getExponent(v) - 3);
    }

    @Test
    void dequantizedIsWithinOneFp8StepOfTheOriginalWithPartialBlocks() {
        SplittableRandom random = new SplittableRandom(3);
        long rows = 300;
        long cols = 200;
        Tensor w = Tensor.allocate(DType.BF16, rows, cols);
        for (long r = 0; r < rows; r++) {
            for (long c = 0; c < cols; c++) {
                // Magnitudes differ by block, so each block's scale matters; the last block is all zeros.
                double blockScale = Math.pow(10, (r / 128) - (c / 128) * 2);
                w.setDouble(r >= 256 && c >= 128 ? 0 : (random.nextDouble() * 2 - 1) * blockScale, r, c);
            }
        }
        Tensor q = Tensor.allocate(DType.F8_E4M3, rows, cols);
        Tensor scales = Tensor.allocate(DType.F32, 3, 2);
        Fp8BlockQuantizer.quantize(w, q, scales, "w");
        for (int br = 0; br < 3; br++) {
            for (int bc = 0; bc < 2; bc++) {
                float amax = 0;
                for (long r = br * 128L; r < Math.min(rows, br * 128L + 128); r++) {
                    for (long c = bc * 128L; c < Math.min(cols, bc * 128L + 128); c++) {
                        amax = Math.max(amax, (float) Math.abs(w.getDouble(r, c)));
                    }
                }
                assertEquals(amax / 448f, (float) scales.getDouble(br, bc), "scale of block " + br + "," + bc);
            }
        }
        assertEquals(0.0, scales.getDouble(2, 1));
        Tensor dq = Fp8BlockDequantizer.dequantize(q, scales, DType.F32, "w");
        for (long r = 0; r < rows; r++) {
            for (long c = 0; c < cols; c++) {
                double original = w.getDouble(r, c);
                double scale = scales.getDouble(r / 128, c / 128);
                double error = Math.abs(dq.getDouble(r, c) - original);
                double step = scale == 0 ? 0 : e4m3Step(Math.abs(original) / scale) * scale;
                assertTrue(error <= step * (1 + 1e-6), "element " + r + "," + c + ": " + original + " came back as "
                        + dq.getDouble(r, c) + ", more than one FP8 step (" + step + ") away");
            }
        }
    }

    @Test
    void quantizesTheProjectionsDeepSeekQuantizesAndNothingElse() {
        long[] m = {256, 256};
        for (String key : new String[] {"model.layers.3.mlp.experts.7.gate_proj.weight", "model.layers.0.self_attn.q_a_proj.weight",
                "model.layers.0.self_attn.kv_b_proj.weight", "model.layers.0.mlp.down_proj.weight",
                "model.layers.2.mlp.shared_experts.up_proj.weight", "model.layers.1.block_sparse_moe.experts.0.w2.weight"}) {
            assertTrue(Fp8BlockQuantizer.quantizes(key, m), key);
        }
        for (String key : new String[] {"model.layers.3.mlp.gate.weight", "model.embed_tokens.weight", "lm_head.weight",
                "model.layers.0.input_layernorm.weight", "model.norm.weight", "model.layers.0.self_attn.q_a_layernorm.weight",
                "model.layers.0.self_attn.q_proj.bias"}) {
            assertFalse(Fp8BlockQuantizer.quantizes(key, m), key);
        }
        assertFalse(Fp8BlockQuantizer.quantizes("model.layers.0.mlp.experts.gate_up_proj", new long[] {8, 64, 64}));
        assertArrayEquals(new long[] {2, 1}, Fp8BlockDequantizer.scaleShape(129, 128));
    }
}
