package dev.moeshard.convert;

import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.moe.quant.Fp8GroupedScales;
import dev.moeshard.safetensors.Checkpoint;
import java.util.List;

/**
 * What {@code --dtype keep-fp8} asks of a checkpoint beyond what the plan of every dtype checks. The tensors it makes
 * (FP8 grouped experts, each followed by its grouped scales, {@link Fp8GroupedScales}; other FP8 weights with their
 * scales unchanged) are the adapter's to plan, as {@code keepFp8} in its options.
 */
final class KeptFp8Plan {
    private KeptFp8Plan() {}

    /** Why this checkpoint's FP8 experts cannot be kept as FP8 in {@code layout}; empty when they can. */
    static List<String> problems(Checkpoint checkpoint, MoeConfig config, GroupedLayout layout) {
        String refusal = Fp8GroupedScales.refusal(config, layout);
        if (refusal == null) {
            return List.of();
        }
        for (String key : checkpoint.keys()) {
            if (key.endsWith(Fp8BlockDequantizer.SCALE_SUFFIX)) {
                return List.of("--dtype keep-fp8: " + refusal);
            }
        }
        return List.of();
    }
}
