package dev.moeshard.convert;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.ExpertNaming.GroupedKey;
import dev.moeshard.moe.GroupedProjection;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.family.DetectedModel;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.moe.quant.Fp8GroupedScales;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.TensorEntry;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link GroupedPlan} for {@code --dtype keep-fp8}: grouped tensors of FP8 experts stay FP8 and get their grouped
 * scales ({@link Fp8GroupedScales}) right after them; other FP8 weights keep their bytes and their scales, as the
 * adapter's {@code keepFp8} emits them.
 */
final class KeptFp8Plan {
    private KeptFp8Plan() {}

    static GroupedPlan apply(GroupedPlan plan, Checkpoint checkpoint, DetectedModel model, ExpertRange range) {
        ExpertNaming naming = model.family().naming();
        String suffix = Fp8BlockDequantizer.SCALE_SUFFIX;
        List<TensorSpec> specs = new ArrayList<>();
        for (TensorSpec s : plan.specs()) {
            GroupedKey g = plan.groupedKeys().contains(s.name()) ? naming.parseGrouped(s.name()) : null;
            if (g != null) {
                String weight = naming.perExpertKey(g.prefix(), g.layer(), range.start(),
                        g.projection() == GroupedProjection.DOWN_PROJS ? Projection.DOWN : Projection.UP);
                TensorEntry w = checkpoint.entry(weight);
                if (w.dtype().isFp8() && checkpoint.contains(weight + suffix)) {
                    specs.add(new TensorSpec(s.name(), w.dtype(), s.shape()));
                    specs.add(new TensorSpec(Fp8GroupedScales.keyOf(s.name()), DType.F32,
                            Fp8GroupedScales.shape(g.projection(), range.count(), model.config())));
                    continue;
                }
            } else if (checkpoint.contains(s.name()) && checkpoint.entry(s.name()).dtype().isFp8()
                    && checkpoint.contains(s.name() + suffix)) {
                specs.add(checkpoint.entry(s.name()).spec());
                specs.add(checkpoint.entry(s.name() + suffix).spec());
                continue;
            }
            specs.add(s);
        }
        return new GroupedPlan(List.copyOf(specs), plan.groupedKeys());
    }

    /** Why this checkpoint's FP8 experts cannot be kept as FP8; empty when they can. */
    static List<String> problems(Checkpoint checkpoint, MoeConfig config) {
        String refusal = Fp8GroupedScales.refusal(config);
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
