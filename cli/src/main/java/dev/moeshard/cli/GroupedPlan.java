package dev.moeshard.cli;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.ExpertNaming.ExpertKey;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.GroupedProjection;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.family.ModelFamily;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.TensorEntry;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The tensors one rank's grouped checkpoint will hold, in order, worked out from headers alone so that the output
 * shards can be laid out and mapped before a byte moves: every non-expert tensor as it is, and for each MoE layer
 * {@code gate_and_up_projs} [E_local, H, 2I] and {@code down_projs} [E_local, I, H] under the adapter's own key names,
 * where the layer's first expert tensor stood.
 *
 * @param specs the output tensors, in the order they will be laid out
 * @param groupedKeys the keys of {@code specs} that are grouped expert tensors
 */
record GroupedPlan(List<TensorSpec> specs, Set<String> groupedKeys) {

    /**
     * The plan for the experts of {@code range}; {@code dtype} null keeps each layer's input dtype. Assumes the
     * survey found no problems for {@code range}.
     */
    static GroupedPlan of(Checkpoint checkpoint, ExpertSurvey survey, ModelFamily family, MoeConfig config,
                          ExpertRange range, DType dtype) {
        ExpertNaming naming = family.naming();
        List<TensorSpec> specs = new ArrayList<>();
        Set<String> grouped = new LinkedHashSet<>();
        for (String key : checkpoint.keys()) {
            if (key.endsWith(Fp8BlockDequantizer.SCALE_SUFFIX)) {
                continue; // the adapter drops every block scale, having dequantized its weight
            }
            ExpertKey k = naming.parsePerExpert(key);
            if (k == null) {
                TensorEntry e = checkpoint.entry(key);
                specs.add(new TensorSpec(key, dequantized(checkpoint, key, e.dtype()), e.shape()));
                continue;
            }
            String gateUpKey = naming.groupedKey(k.prefix(), k.layer(), GroupedProjection.GATE_AND_UP_PROJS);
            // A rank with no experts gets no grouped tensors, as the adapter emits none for an empty range.
            if (range.count() == 0 || grouped.contains(gateUpKey)) {
                continue;
            }
            ExpertSurvey.Layer layer = new ExpertSurvey.Layer(k.prefix(), k.layer());
            String downKey = naming.groupedKey(k.prefix(), k.layer(), GroupedProjection.DOWN_PROJS);
            DType gateUpDtype = dtype != null ? dtype : survey.outputDtypeOf(layer, Projection.UP, range);
            DType downDtype = dtype != null ? dtype : survey.outputDtypeOf(layer, Projection.DOWN, range);
            specs.add(new TensorSpec(gateUpKey, gateUpDtype,
                    new long[] {range.count(), config.hidden(), config.gateUpWidth()}));
            specs.add(new TensorSpec(downKey, downDtype,
                    new long[] {range.count(), config.intermediate(), config.hidden()}));
            grouped.add(gateUpKey);
            grouped.add(downKey);
        }
        return new GroupedPlan(List.copyOf(specs), Set.copyOf(grouped));
    }

    /**
     * The dtype non-expert tensor {@code key} of {@code stored} dtype comes out as: FP8 with a block scale is
     * dequantized to the adapter's default dtype, as the adapter does with every such weight.
     */
    private static DType dequantized(Checkpoint checkpoint, String key, DType stored) {
        return stored.isFp8() && checkpoint.contains(key + Fp8BlockDequantizer.SCALE_SUFFIX)
                ? FromHfOptions.defaults().dequantizedDtype() : stored;
    }

    /**
     * Inputs this command cannot convert yet, each as a problem: the adapter would change them in ways the
     * header-only plan does not model (regrouped LoRA, fused or GPT-OSS experts).
     */
    static List<String> unsupported(Checkpoint checkpoint, ModelFamily family) {
        List<String> problems = new ArrayList<>();
        if (family.layout() != ModelFamily.Layout.PER_EXPERT) {
            problems.add(family.modelType() + " checkpoints are already grouped in their own layout; to-grouped "
                    + "converts per-expert checkpoints only");
            return problems;
        }
        String segment = "." + family.naming().segment() + ".";
        for (String key : checkpoint.keys()) {
            if (key.contains(segment) && (key.contains(".lora_A.") || key.contains(".lora_B."))) {
                problems.add(key + ": expert LoRA weights are not supported by to-grouped yet");
            } else if (key.endsWith(segment + "gate_up_proj") || key.endsWith(segment + "down_proj")) {
                problems.add(key + ": transformers-v5 fused experts are not supported by to-grouped yet");
            }
        }
        return problems;
    }
}
