package dev.moeshard.convert;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.FusedExperts;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.lora.LoraExpertSuffix;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.moe.quant.Fp8GroupedScales;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.TensorSpec;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Which output tensors of a per-expert → grouped conversion each input tensor feeds: an expert's projection its
 * grouped tensor (for a rank that holds the expert), a fused tensor the layout's tensors it feeds, an FP8 scale what
 * its weight feeds (and, kept, its own grouped scale or itself), expert LoRA every grouped LoRA tensor of a rank that
 * holds its expert (a ParamWrapper tensor, which folds every expert, of any rank that holds experts), anything else
 * itself. The one rule by which a unit that writes some of a checkpoint's tensors both plans its reads and leaves the
 * rest of the input unread.
 */
final class InputFeeds {
    private final Checkpoint checkpoint;
    private final ExpertNaming naming;
    private final GroupedLayout layout;
    private final boolean gated;
    private final boolean keepFp8;
    private final LoraPlan lora;
    private final Set<String> loraOutputs = new LinkedHashSet<>();

    /** {@code outputs}: every tensor the job's ranks write, of which the grouped LoRA ones are named. */
    InputFeeds(Checkpoint checkpoint, ExpertNaming naming, MoeConfig config, GroupedLayout layout, boolean keepFp8,
               LoraPlan lora, List<TensorSpec> outputs) {
        this.checkpoint = checkpoint;
        this.naming = naming;
        this.layout = layout;
        this.gated = config.gated();
        this.keepFp8 = keepFp8;
        this.lora = lora;
        for (TensorSpec s : outputs) {
            if (LoraExpertSuffix.of(s.name(), naming.segment()) != null) {
                loraOutputs.add(s.name());
            }
        }
    }

    /** Whether {@code key} feeds one of {@code outputs} for the experts of {@code range}. */
    boolean feeds(String key, ExpertRange range, Set<String> outputs) {
        return !Collections.disjoint(outputsOf(key, range), outputs);
    }

    /** Whether {@code key} is a routed expert's weight, which the layer loop copies itself rather than the adapter. */
    boolean isExpertWeight(String key) {
        return naming.parsePerExpert(key) != null && !lora.inputKeys().contains(key);
    }

    /** The output tensors {@code key} feeds for the experts of {@code range}. */
    Set<String> outputsOf(String key, ExpertRange range) {
        Set<String> out = new LinkedHashSet<>();
        if (key.endsWith(Fp8BlockDequantizer.SCALE_SUFFIX)) {
            String weight = key.substring(0, key.length() - Fp8BlockDequantizer.SCALE_SUFFIX.length());
            out.addAll(outputsOf(weight, range));
            if (keepFp8) {
                ExpertNaming.ExpertKey expert = naming.parsePerExpert(weight);
                out.add(expert == null ? key
                        : Fp8GroupedScales.keyOf(naming, expert.prefix(), expert.layer(), expert.projection()));
            }
            return out;
        }
        if (lora.inputKeys().contains(key)) {
            // Every grouped LoRA tensor of the rank, not only its own layer's: the adapter regroups them together.
            if (lora.holdsExpertOf(key, range)) {
                out.addAll(loraOutputs);
            }
            return out;
        }
        ExpertNaming.ExpertKey expert = naming.parsePerExpert(key);
        if (expert != null) {
            if (range.contains(expert.expert())) {
                out.add(layout.key(naming, expert.prefix(), expert.layer(), layout.tensorOf(expert.projection())));
            }
            return out;
        }
        FusedExperts fused = checkpoint.contains(key)
                ? FusedExperts.parse(naming, key, checkpoint.entry(key).shape().length) : null;
        if (fused != null) {
            fused.targets(layout, gated).forEach(name -> out.add(fused.targetKey(naming, name)));
            return out;
        }
        out.add(key);
        return out;
    }
}
