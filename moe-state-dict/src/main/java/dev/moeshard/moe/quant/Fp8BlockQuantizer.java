package dev.moeshard.moe.quant;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Set;

/**
 * Quantizes a weight [R, C] to F8_E4M3 with one F32 {@code weight_scale_inv} per 128×128 block (edge blocks cut
 * short), as DeepSeek-V3's FP8 checkpoints are made: {@code scale = amax / 448}, the block's largest magnitude mapped
 * to E4M3's largest finite value, and {@code q = fp8(w / scale)} rounded to nearest even. Dequantizing,
 * {@code q × scale}, is then within one E4M3 step (at the element's magnitude) of the original. An all-zero block
 * gets scale 0 and zeros, which dequantize to exactly zero.
 */
public final class Fp8BlockQuantizer {
    /** E4M3's largest finite magnitude. */
    public static final float E4M3_MAX = 448f;

    // The projections DeepSeek-V3 stores in FP8: attention and MLP (expert, shared and dense) projections. Norms,
    // embeddings, lm_head and the router gate ("mlp.gate") stay in their own dtype.
    private static final Set<String> QUANTIZED = Set.of("q_proj", "k_proj", "v_proj", "o_proj", "q_a_proj", "q_b_proj",
            "kv_a_proj_with_mqa", "kv_b_proj", "gate_proj", "up_proj", "down_proj", "w1", "w2", "w3");
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int BLOCK = Fp8BlockDequantizer.BLOCK;

    private Fp8BlockQuantizer() {}

    /** Whether a DeepSeek-style FP8 checkpoint quantizes tensor {@code key} of shape {@code shape}. */
    public static boolean quantizes(String key, long[] shape) {
        if (shape.length != 2 || !key.endsWith(".weight") || key.contains("lm_head") || key.contains("embed")) {
            return false;
        }
        String module = key.substring(0, key.length() - ".weight".length());
        return QUANTIZED.contains(module.substring(module.lastIndexOf('.') + 1));
    }

    /**
     * Quantizes {@code weight} [R, C] (any float dtype, any strides) into {@code out} [R, C] F8_E4M3 and
     * {@code scales} [⌈R/128⌉, ⌈C/128⌉] F32 (both may be views of a mapped output file).
     */
    public static void quantize(Tensor weight, Tensor out, Tensor scales, String name) {
        long rows = weight.size(0);
        long cols = weight.size(1);
        long[] grid = Fp8BlockDequantizer.scaleShape(rows, cols);
        if (weight.dim() != 2 || out.dtype() != DType.F8_E4M3 || !Arrays.equals(out.sizes(), weight.sizes())
                || !Arrays.equals(scales.sizes(), grid)) {
            throw new IllegalArgumentException(name + ": cannot quantize " + Arrays.toString(weight.sizes()) + " into "
                    + out.dtype() + Arrays.toString(out.sizes()) + " with scales " + Arrays.toString(scales.sizes())
                    + "; expected F8_E4M3 of the same shape and scales " + Arrays.toString(grid));
        }
        // The F32 working copy is freed on return: left to the collector, one per tensor piled up to gigabytes of
        // native memory over a checkpoint before it ran. Shared, because the copies into and out of it use threads.
        try (Arena scratch = Arena.ofShared()) {
            Tensor values = Tensor.allocate(scratch, DType.F32, rows, cols).copyFrom(weight);
            Tensor scaleValues = Tensor.allocate(scratch, DType.F32, grid);
            for (long br = 0; br < grid[0]; br++) {
                for (long bc = 0; bc < grid[1]; bc++) {
                    float scale = quantizeBlock(values.segment(), cols, br * BLOCK, Math.min(rows, br * BLOCK + BLOCK),
                            bc * BLOCK, Math.min(cols, bc * BLOCK + BLOCK));
                    scaleValues.segment().set(F32, (br * grid[1] + bc) * Float.BYTES, scale);
                }
            }
            out.copyFrom(values);
            scales.copyFrom(scaleValues);
        }
    }

    /**
     * Scales rows [r0, r1) × columns [c0, c1) of the F32 matrix {@code data} (row length {@code cols}) in place so
     * that its largest magnitude becomes E4M3's, and returns the scale (0 for an all-zero block).
     */
    private static float quantizeBlock(MemorySegment data, long cols, long r0, long r1, long c0, long c1) {
        float amax = 0;
        for (long r = r0; r < r1; r++) {
            for (long c = c0; c < c1; c++) {
                amax = Math.max(amax, Math.abs(data.get(F32, (r * cols + c) * Float.BYTES)));
            }
        }
        float scale = amax / E4M3_MAX;
        for (long r = r0; r < r1; r++) {
            for (long c = c0; c < c1; c++) {
                long at = (r * cols + c) * Float.BYTES;
                // w / scale can land a rounding above 448, past E4M3's range: clamp it back.
                float q = scale == 0 ? 0 : Math.clamp(data.get(F32, at) / scale, -E4M3_MAX, E4M3_MAX);
                data.set(F32, at, q);
            }
        }
        return scale;
    }
}
