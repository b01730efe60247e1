package dev.moeshard.convert;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.ExpertNaming.ExpertKey;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.GroupedLayout;
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
import java.util.Arrays;
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
                          ExpertRange range, DType dtype, LoraPlan lora) {
        return of(checkpoint, survey, family, config, range, dtype, lora, GroupedLayout.DEEPEP);
    }

    /** {@link #of} with the grouped tensors in {@code layout}'s names and shapes. */
    static GroupedPlan of(Checkpoint checkpoint, ExpertSurvey survey, ModelFamily family, MoeConfig config,
                          ExpertRange range, DType dtype, LoraPlan lora, GroupedLayout layout) {
        ExpertNaming naming = family.naming();
        List<TensorSpec> specs = new ArrayList<>();
        Set<String> grouped = new LinkedHashSet<>();
        for (String key : checkpoint.keys()) {
            if (key.endsWith(Fp8BlockDequantizer.SCALE_SUFFIX) || lora.inputKeys().contains(key)) {
                continue; // the adapter drops every block scale, having dequantized its weight; LoRA comes last
            }
            ExpertKey k = naming.parsePerExpert(key);
            if (k == null) {
                TensorEntry e = checkpoint.entry(key);
                String fused = fusedGroupedKey(key, e, naming);
                if (fused != null) {
                    // The adapter copies this rank's experts of a v5 fused tensor into the layout's tensors it feeds.
                    Projection held = fused.endsWith(GroupedProjection.GATE_AND_UP_PROJS.keySuffix())
                            ? Projection.UP : Projection.DOWN;
                    String layerPath = key.substring(0, key.lastIndexOf("." + naming.segment() + "."));
                    for (String name : layout.tensorNames(config.gated())) {
                        if ((layout.projectionsIn(name, config.gated()).get(0) == Projection.DOWN) == (held == Projection.DOWN)) {
                            specs.add(new TensorSpec(layerPath + "." + naming.segment() + "." + name,
                                    dtype != null ? dtype : e.dtype(), layout.shape(name, range.count(), config)));
                        }
                    }
                } else {
                    specs.add(new TensorSpec(key, dequantized(checkpoint, key, e.dtype()), e.shape()));
                }
                continue;
            }
            String downKey = layout.key(naming, k.prefix(), k.layer(), layout.tensorOf(Projection.DOWN));
            // A rank with no experts gets no grouped tensors, as the adapter emits none for an empty range.
            if (range.count() == 0 || grouped.contains(downKey)) {
                continue;
            }
            ExpertSurvey.Layer layer = new ExpertSurvey.Layer(k.prefix(), k.layer());
            for (String name : layout.tensorNames(config.gated())) {
                String groupedKey = layout.key(naming, k.prefix(), k.layer(), name);
                // A fused gate/up tensor takes up's dtype, as the survey checks gate against up.
                List<Projection> held = layout.projectionsIn(name, config.gated());
                Projection p = held.contains(Projection.UP) ? Projection.UP : held.get(0);
                DType d = dtype != null ? dtype : survey.outputDtypeOf(layer, p, range);
                specs.add(new TensorSpec(groupedKey, d, layout.shape(name, range.count(), config)));
                grouped.add(groupedKey);
            }
        }
        // The adapter regroups expert LoRA after everything else, whole on every rank.
        specs.addAll(lora.specs());
        return new GroupedPlan(List.copyOf(specs), Set.copyOf(grouped));
    }

    /**
     * The grouped key a transformers-v5 fused expert tensor ({@code {seg}.gate_up_proj} [E, 2I, H] or
     * {@code {seg}.down_proj} [E, H, I]) becomes, or null when {@code key} is not one.
     */
    static String fusedGroupedKey(String key, TensorEntry entry, ExpertNaming naming) {
        String base = "." + naming.segment() + ".";
        boolean gateUp = key.endsWith(base + "gate_up_proj");
        if ((!gateUp && !key.endsWith(base + "down_proj")) || entry.shape().length != 3 || !key.contains("layers.")) {
            return null;
        }
        String layerPath = key.substring(0, key.lastIndexOf(base));
        return layerPath + base + (gateUp ? GroupedProjection.GATE_AND_UP_PROJS : GroupedProjection.DOWN_PROJS).keySuffix();
    }

    /** How many transformers-v5 fused expert tensors {@code checkpoint} holds. */
    static int fusedCount(Checkpoint checkpoint, ExpertNaming naming) {
        int n = 0;
        for (String key : checkpoint.keys()) {
            n += fusedGroupedKey(key, checkpoint.entry(key), naming) != null ? 1 : 0;
        }
        return n;
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
     * transformers-v5 fused experts of another shape than the model's, each as a problem. (GPT-OSS, grouped in its
     * own layout, is planned by {@link GptOssLayout}, never here.)
     */
    static List<String> unsupported(Checkpoint checkpoint, ModelFamily family, MoeConfig config) {
        List<String> problems = new ArrayList<>();
        for (String key : checkpoint.keys()) {
            if (fusedGroupedKey(key, checkpoint.entry(key), family.naming()) != null) {
                long[] want = key.endsWith("gate_up_proj")
                        ? new long[] {config.numExperts(), config.gateUpWidth(), config.hidden()}
                        : new long[] {config.numExperts(), config.hidden(), config.intermediate()};
                if (!Arrays.equals(checkpoint.entry(key).shape(), want)) {
                    problems.add(key + ": a transformers-v5 fused expert tensor of this model must have shape "
                            + Arrays.toString(want) + ", got "
                            + Arrays.toString(checkpoint.entry(key).shape()));
                }
            }
        }
        return problems;
    }
}
