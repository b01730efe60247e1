package dev.moeshard.convert;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.family.DetectedModel;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.safetensors.TensorEntry;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.safetensors.TensorSplit;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The hf-v5 form of a model with identity experts (LongCat-Flash): transformers 5 holds each layer's
 * {@code gate_up_proj} as [E + Z, 2I, H], the Z identity experts' rows after the E routed ones, beside a
 * {@code down_proj} of the E routed experts only. Row E + z is that identity expert's {@code gate_proj} [I, H] then its
 * {@code up_proj} [I, H], the tensors the conversion otherwise passes through as they are.
 *
 * <p>Both directions are a {@link TensorSplit}, so no byte is copied to join or cut: written, a layer's identity
 * tensors are laid out right after its grouped {@code gate_up_proj} [E, 2I, H] and the header names the whole; read,
 * the whole is handed out as the grouped tensor and the identity tensors again, and every job goes on as with the
 * other layouts. Only a whole model is written so (every expert in one checkpoint): the identity rows follow the
 * last routed expert, which no rank of an expert-parallel run holds with all the others.
 */
final class IdentityExpertRows {
    private final ExpertNaming naming;
    private final MoeConfig config;

    private IdentityExpertRows(ExpertNaming naming, MoeConfig config) {
        this.naming = naming;
        this.config = config;
    }

    /** The rows of {@code model} in {@code layout}, or null where the layout holds no identity rows. */
    static IdentityExpertRows of(DetectedModel model, GroupedLayout layout) {
        return layout == GroupedLayout.HF_V5 && model.config().identityExperts() > 0
                ? new IdentityExpertRows(model.naming(), model.config()) : null;
    }

    /** The output tensors written with their identity rows, the splits that join them, the rows found in no input. */
    record Joined(List<TensorSpec> specs, List<TensorSplit> splits, Set<String> zeroFilled) {}

    /**
     * {@code specs} (a whole model's grouped tensors in hf-v5) with each layer's identity tensors moved right after
     * its {@code gate_up_proj}, in the dtype of its rows, and joined to it. An identity expert's tensor the input lacks
     * (a checkpoint that never saved them) is added, to be written as zeros: the forward never reads those rows.
     */
    Joined join(List<TensorSpec> specs) {
        Map<String, TensorSpec> byName = new LinkedHashMap<>();
        specs.forEach(s -> byName.put(s.name(), s));
        List<TensorSplit> splits = new ArrayList<>();
        Set<String> zeroFilled = new LinkedHashSet<>();
        Set<String> moved = new LinkedHashSet<>();
        Map<String, List<TensorSpec>> after = new LinkedHashMap<>();
        for (TensorSpec s : specs) {
            GroupedLayout.Key k = GroupedLayout.HF_V5.parse(naming, s.name());
            if (k == null || !k.name().equals("gate_up_proj")) {
                continue;
            }
            List<TensorSpec> rows = identityParts(k.prefix(), k.layer(), s.dtype());
            rows.forEach(part -> {
                moved.add(part.name());
                if (!byName.containsKey(part.name())) {
                    zeroFilled.add(part.name());
                }
            });
            after.put(s.name(), rows);
            splits.add(split(k.prefix(), k.layer(), s.dtype()));
        }
        List<TensorSpec> out = new ArrayList<>();
        for (TensorSpec s : specs) {
            if (moved.contains(s.name())) {
                continue;
            }
            out.add(s);
            out.addAll(after.getOrDefault(s.name(), List.of()));
        }
        return new Joined(out, splits, zeroFilled);
    }

    /**
     * Why {@code ranks} cannot be written with identity rows, or null: they follow the last routed expert in one
     * checkpoint of the whole model.
     */
    String rankProblem(String modelType, RankSelection ranks) {
        return ranks.size() <= 1 ? null : describe(modelType) + "which is written for a whole model only: drop "
                + "--ep-size, or use --layout deepep, grouped or vllm for expert-parallel ranks";
    }

    /** The start of every message about these rows: where they lie, in {@code modelType}'s sizes. */
    String describe(String modelType) {
        return "--layout hf-v5: " + modelType + "'s " + config.identityExperts() + " identity experts lie in "
                + "gate_up_proj after the routed ones ([E + Z, 2I, H] = [" + (config.numExperts()
                + config.identityExperts()) + ", " + 2 * config.intermediate() + ", " + config.hidden() + "]), ";
    }

    /** What the summary says of these rows, {@code zeroFilled} of them found in no input. */
    String decision(Set<String> zeroFilled) {
        return "the gate and up rows of the " + config.identityExperts() + " identity experts (ids "
                + config.numExperts() + " to " + (config.numExperts() + config.identityExperts() - 1) + ", which "
                + "compute nothing) written inside gate_up_proj after the routed experts', as transformers 5 holds them"
                + (zeroFilled.isEmpty() ? "" : "; " + zeroFilled.size() + " of their tensors the input lacks written"
                + " as zeros");
    }

    /** Writes zeros into the tensors {@code keys} of {@code out} holds: rows of identity experts no input saved. */
    static void writeZeros(Set<String> keys, ShardedCheckpointWriter out, ByteProgress progress) {
        for (String key : keys) {
            if (out.holds(key)) {
                Tensor target = out.tensor(key);
                target.segment().fill((byte) 0);
                progress.add(target.byteSize());
            }
        }
    }

    /**
     * The identity tensors of {@code specs} that cannot be joined to their layer's rows as they are: of another shape
     * than [I, H], each as a problem.
     */
    List<String> problems(List<TensorSpec> specs) {
        List<String> problems = new ArrayList<>();
        for (TensorSpec s : specs) {
            ExpertNaming.ExpertKey k = naming.parseIdentityExpert(s.name());
            if (k != null && k.projection() != Projection.DOWN
                    && !Arrays.equals(s.shape(), new long[] {config.intermediate(), config.hidden()})) {
                problems.add(s.name() + ": an identity expert's rows of hf-v5 gate_up_proj must be [I, H] = ["
                        + config.intermediate() + ", " + config.hidden() + "], got " + Arrays.toString(s.shape()));
            }
        }
        return problems;
    }

    /**
     * The splits of {@code checkpoint}'s hf-v5 {@code gate_up_proj} tensors that hold identity rows ([E + Z, 2I, H]),
     * to read them as the grouped tensor and the identity tensors; none when there are none.
     */
    List<TensorSplit> splitsOf(Checkpoint checkpoint) {
        List<TensorSplit> splits = new ArrayList<>();
        for (String key : checkpoint.keys()) {
            GroupedLayout.Key k = GroupedLayout.HF_V5.parse(naming, key);
            TensorEntry e = checkpoint.entry(key);
            if (k != null && k.name().equals("gate_up_proj") && e.shape().length == 3
                    && e.shape()[0] == config.numExperts() + config.identityExperts()) {
                splits.add(split(k.prefix(), k.layer(), e.dtype()));
            }
        }
        return splits;
    }

    /**
     * {@code checkpoint} of {@code model} with the identity rows of any hf-v5 {@code gate_up_proj} it holds read as the
     * tensors the other layouts keep them in; itself when it holds none, else a new checkpoint over its files and
     * {@code checkpoint} closed.
     */
    static Checkpoint readable(Checkpoint checkpoint, DetectedModel model) {
        IdentityExpertRows rows = of(model, GroupedLayout.HF_V5);
        List<TensorSplit> splits = rows == null ? List.of() : rows.splitsOf(checkpoint);
        if (splits.isEmpty()) {
            return checkpoint;
        }
        Checkpoint split = checkpoint.split(splits);
        checkpoint.close();
        return split;
    }

    private TensorSplit split(String prefix, int layer, DType dtype) {
        int rows = config.numExperts() + config.identityExperts();
        String key = GroupedLayout.HF_V5.key(naming, prefix, layer, "gate_up_proj");
        List<TensorSpec> parts = new ArrayList<>();
        parts.add(new TensorSpec(key, dtype, GroupedLayout.HF_V5.shape("gate_up_proj", config.numExperts(), config)));
        parts.addAll(identityParts(prefix, layer, dtype));
        return new TensorSplit(new TensorSpec(key, dtype,
                GroupedLayout.HF_V5.shape("gate_up_proj", rows, config)), parts);
    }

    private List<TensorSpec> identityParts(String prefix, int layer, DType dtype) {
        List<TensorSpec> parts = new ArrayList<>();
        long[] shape = {config.intermediate(), config.hidden()};
        for (int z = 0; z < config.identityExperts(); z++) {
            for (Projection p : List.of(Projection.GATE, Projection.UP)) {
                parts.add(new TensorSpec(naming.perExpertKey(prefix, layer, config.numExperts() + z, p), dtype, shape));
            }
        }
        return parts;
    }
}
