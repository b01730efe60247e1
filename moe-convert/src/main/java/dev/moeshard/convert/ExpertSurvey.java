package dev.moeshard.convert;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.ExpertNaming.ExpertKey;
import dev.moeshard.moe.MissingExpertWeightsException;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.family.DetectedModel;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.TensorEntry;
import dev.moeshard.tensor.DType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;
import java.util.SequencedSet;
import java.util.Set;

/**
 * What per-expert tensors a checkpoint holds, from its headers alone, and what is wrong with them for a given set of
 * experts: missing keys, shapes that are not the model's [I, H] / [H, I], dtypes that differ within one grouped
 * tensor. The grouped tensors stack their experts, so one odd expert would make the whole group unwritable.
 */
final class ExpertSurvey {
    /** One MoE layer: the key prefix before {@code layers.} and the layer number. */
    record Layer(String prefix, int layer) {
        /** {@code {prefix}layers.{layer}}: the path of the decoder layer, as {@link LayerReadAhead#layerOf} gives it. */
        String path() {
            return prefix + "layers." + layer;
        }
    }

    private final Checkpoint checkpoint;
    private final DetectedModel model;
    private final SequencedMap<Layer, List<ExpertKey>> expertsByLayer = new LinkedHashMap<>();

    ExpertSurvey(Checkpoint checkpoint, DetectedModel model) {
        this.checkpoint = checkpoint;
        this.model = model;
        ExpertNaming naming = model.naming();
        for (String key : checkpoint.keys()) {
            ExpertKey k = naming.parsePerExpert(key);
            if (k != null) {
                expertsByLayer.computeIfAbsent(new Layer(k.prefix(), k.layer()), l -> new ArrayList<>()).add(k);
            }
        }
    }

    /** The layers that have per-expert tensors, in checkpoint order. */
    SequencedSet<Layer> layers() {
        return expertsByLayer.sequencedKeySet();
    }

    /** The per-expert keys of {@code layer}, in checkpoint order. */
    List<String> keysOf(Layer layer) {
        ExpertNaming naming = model.naming();
        return expertsByLayer.get(layer).stream()
                .map(k -> naming.perExpertKey(k.prefix(), k.layer(), k.expert(), k.projection())).toList();
    }

    int expertTensorCount() {
        return expertsByLayer.values().stream().mapToInt(List::size).sum();
    }

    /** The projections a grouped tensor is built from: gate only when the model is gated. */
    List<Projection> projections() {
        return model.config().gated()
                ? List.of(Projection.GATE, Projection.UP, Projection.DOWN) : List.of(Projection.UP, Projection.DOWN);
    }

    /** Every problem with the experts of {@code range} in every layer; empty when they can be grouped. */
    List<String> problems(ExpertRange range, DeviceMesh mesh) {
        List<String> problems = new ArrayList<>();
        MoeConfig config = model.config();
        String rank = mesh == null ? "" : " (needed by ep-rank " + mesh.localRank("ep") + " of " + mesh.size("ep") + ")";
        try {
            // The adapter's own check, so that the plan refuses exactly what the conversion would.
            model.adapter().validateExpertAvailability(new LinkedHashSet<>(checkpoint.keys()), mesh);
        } catch (MissingExpertWeightsException e) {
            for (String key : e.missingKeys()) {
                problems.add("missing expert weight " + key + rank);
            }
        }
        ExpertNaming naming = model.naming();
        problems.addAll(identityExpertProblems());
        for (Map.Entry<Layer, List<ExpertKey>> layer : expertsByLayer.entrySet()) {
            DType gateUpDtype = null;
            DType downDtype = null;
            for (ExpertKey k : layer.getValue()) {
                String key = naming.perExpertKey(k.prefix(), k.layer(), k.expert(), k.projection());
                if (k.expert() >= config.numExperts()) {
                    problems.add(key + ": expert " + k.expert() + " is beyond the model's " + config.numExperts()
                            + " experts" + (config.identityExperts() == 0 ? "" : " and " + config.identityExperts()
                            + " identity experts"));
                    continue;
                }
                if (!range.contains(k.expert()) || (k.projection() == Projection.GATE && !config.gated())) {
                    continue;
                }
                TensorEntry entry = checkpoint.entry(key);
                long[] want = k.projection() == Projection.DOWN
                        ? new long[] {config.hidden(), config.intermediate()}
                        : new long[] {config.intermediate(), config.hidden()};
                if (!Arrays.equals(entry.shape(), want)) {
                    problems.add(key + ": shape " + Arrays.toString(entry.shape()) + ", expected "
                            + Arrays.toString(want) + " like every " + naming.name(k.projection()) + " of this model");
                }
                boolean down = k.projection() == Projection.DOWN;
                DType first = down ? downDtype : gateUpDtype;
                if (first == null) {
                    if (down) {
                        downDtype = entry.dtype();
                    } else {
                        gateUpDtype = entry.dtype();
                    }
                } else if (first != entry.dtype()) {
                    problems.add(key + ": dtype " + entry.dtype() + ", the other experts of layer "
                            + layer.getKey().layer() + " are " + first);
                }
            }
        }
        return problems;
    }

    /**
     * A down projection under an identity expert's id. The only tensors a checkpoint has there are the gate and up
     * rows of a fused allocation that the forward never reads (see {@link dev.moeshard.moe.MoeConfig#identityExperts});
     * a down projection means a computed expert, so the config's counts of routed and identity experts are wrong, and
     * passing that expert through would hide it from the grouped tensors.
     */
    private List<String> identityExpertProblems() {
        MoeConfig config = model.config();
        List<String> problems = new ArrayList<>();
        for (String key : checkpoint.keys()) {
            ExpertKey k = model.naming().parseIdentityExpert(key);
            if (k != null && k.projection() == Projection.DOWN) {
                problems.add(key + ": a down projection under identity expert " + k.expert() + "; ids ["
                        + config.numExperts() + ", " + (config.numExperts() + config.identityExperts()) + ") are the "
                        + config.identityExperts() + " identity experts after the " + config.numExperts()
                        + " routed ones, which compute nothing and hold at most unused gate and up rows; expected no "
                        + "down projection there (do config.json's expert counts match the checkpoint?)");
            }
        }
        return problems;
    }

    /** Experts of {@code layer} with no tensor at all, among the model's E. */
    List<Integer> absentExperts(Layer layer) {
        Set<Integer> present = new LinkedHashSet<>();
        for (ExpertKey k : expertsByLayer.get(layer)) {
            present.add(k.expert());
        }
        List<Integer> absent = new ArrayList<>();
        for (int e = 0; e < model.config().numExperts(); e++) {
            if (!present.contains(e)) {
                absent.add(e);
            }
        }
        return absent;
    }
}
