package dev.moeshard.convert;

import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.TensorEntry;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Checks, from headers alone, that every FP8 block-quantized weight has its {@code weight_scale_inv} with the grid
 * its shape needs ([..., ⌈R/128⌉, ⌈C/128⌉] for a weight [..., R, C]: per expert, or grouped with the expert axis in
 * front), and that no scales stand without their weight. A checkpoint is block-quantized as soon as it holds one
 * {@code _scale_inv}; then an FP8 weight with none is missing its scales rather than being per-tensor FP8.
 */
final class QuantizationCheck {
    private QuantizationCheck() {}

    /** Every problem, each naming the scale key; empty when every quantized weight can be read. */
    static List<String> problems(Checkpoint checkpoint) {
        List<String> problems = new ArrayList<>();
        String suffix = Fp8BlockDequantizer.SCALE_SUFFIX;
        boolean blockQuantized = checkpoint.keys().stream().anyMatch(k -> k.endsWith(suffix));
        if (!blockQuantized) {
            return problems;
        }
        for (String key : checkpoint.keys()) {
            if (key.endsWith(suffix)) {
                String weight = key.substring(0, key.length() - suffix.length());
                if (!checkpoint.contains(weight)) {
                    problems.add(key + ": FP8 scales without their weight " + weight);
                }
                continue;
            }
            TensorEntry w = checkpoint.entry(key);
            if (!w.dtype().isFp8() || w.shape().length < 2) {
                continue;
            }
            long[] want = scaleShape(w.shape());
            String scaleKey = key + suffix;
            if (!checkpoint.contains(scaleKey)) {
                problems.add(scaleKey + ": missing; the FP8 weight " + key + " " + Arrays.toString(w.shape())
                        + " needs scales " + Arrays.toString(want));
            } else if (!Arrays.equals(checkpoint.entry(scaleKey).shape(), want)) {
                problems.add(scaleKey + ": shape " + Arrays.toString(checkpoint.entry(scaleKey).shape())
                        + ", the FP8 weight " + key + " " + Arrays.toString(w.shape()) + " needs "
                        + Arrays.toString(want) + " (one scale per " + Fp8BlockDequantizer.BLOCK + "x"
                        + Fp8BlockDequantizer.BLOCK + " block, edge blocks included)");
            }
        }
        return problems;
    }

    /** [..., ⌈R/128⌉, ⌈C/128⌉] for a weight [..., R, C]. */
    static long[] scaleShape(long[] weight) {
        long[] out = weight.clone();
        int n = out.length;
        long[] last = Fp8BlockDequantizer.scaleShape(weight[n - 2], weight[n - 1]);
        out[n - 2] = last[0];
        out[n - 1] = last[1];
        return out;
    }
}
