package dev.moeshard.moe;

import dev.moeshard.moe.ExpertNaming.GroupedKey;
import dev.moeshard.moe.lora.LoraExpertSuffix;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertSplit;
import dev.moeshard.moe.parallel.ExpertSplitter;
import dev.moeshard.moe.parallel.Placement;
import dev.moeshard.moe.parallel.ShardedTensor;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.moe.quant.Fp8GroupedScales;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Grouped → HF for a {@link MoeStateDictAdapter}: each grouped tensor split into its experts' per-expert projections
 * (views, or copies), kept FP8 scales back to each expert's {@code weight_scale_inv}, and grouped LoRA back to the
 * per-expert or ParamWrapper format. Splits go through the adapter, which remembers their expert ids; grouped keys
 * split for write-through are registered with it, so that the next HF → grouped consumes them.
 */
final class GroupedToHf {
    private final MoeStateDictAdapter adapter;
    private final MoeConfig config;
    private final ExpertNaming naming;
    private final GroupedLayout layout;

    GroupedToHf(MoeStateDictAdapter adapter) {
        this.adapter = adapter;
        this.config = adapter.config();
        this.naming = adapter.naming();
        this.layout = adapter.layout();
    }

    /** See {@link MoeStateDictAdapter#toHf(Map, ToHfOptions)}. */
    Map<String, Tensor> toHf(Map<String, Tensor> grouped, ToHfOptions options) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : grouped.entrySet()) {
            for (Map.Entry<String, Tensor> c : toHf(e.getKey(), e.getValue(), options)) {
                out.put(c.getKey(), c.getValue());
            }
        }
        return out;
    }

    /** See {@link MoeStateDictAdapter#toHf(String, Tensor, ToHfOptions)}. */
    List<Map.Entry<String, Tensor>> toHf(String fqn, Tensor tensor, ToHfOptions options) {
        GroupedKey scalesOf = Fp8GroupedScales.parse(naming, fqn);
        if (scalesOf != null) {
            return keptFp8ScalesToHf(scalesOf, tensor, options);
        }
        GroupedLayout.Key g = layout.parse(naming, fqn);
        if (g != null && isSplittable(fqn, g, tensor.sizes())) {
            return perExpert(fqn, g, split(tensor, options), options);
        }
        LoraExpertSuffix lora = LoraExpertSuffix.of(fqn, naming.segment());
        if (lora != null) {
            return loraToHf(fqn, tensor, lora, options);
        }
        return filtered(List.of(Map.entry(fqn, tensor)), options);
    }

    /** See {@link MoeStateDictAdapter#toHf(String, ShardedTensor, ToHfOptions)}. */
    List<Map.Entry<String, Tensor>> toHf(String fqn, ShardedTensor tensor, ToHfOptions options) {
        GroupedKey scalesOf = Fp8GroupedScales.parse(naming, fqn);
        if (scalesOf != null) {
            ExpertSplitter.validate(tensor, config.numExperts(), fqn);
            return keptFp8ScalesToHf(scalesOf, tensor.local(),
                    options.withLocalExperts(tensor.localExperts(config.numExperts())));
        }
        GroupedLayout.Key g = layout.parse(naming, fqn);
        long[] global = tensor.globalShape();
        if (g != null && isSplittable(fqn, g, global)) {
            String what = layout == GroupedLayout.DEEPEP && g.name().equals("down_projs")
                    ? "down_projs (DeepEP)" : g.name();
            ExpertSplitter.validate(tensor, config.numExperts(), what + " layer " + g.layer());
            return perExpert(fqn, g, adapter.splitExperts(tensor), options);
        }
        LoraExpertSuffix lora = LoraExpertSuffix.of(fqn, naming.segment());
        if (lora != null) {
            return loraToHf(fqn, tensor.local(), lora,
                    options.withLocalExperts(tensor.localExperts(config.numExperts())));
        }
        return filtered(List.of(Map.entry(fqn, tensor.local())), options);
    }

    /** See {@link MoeStateDictAdapter#toHfSharded(String, ShardedTensor, ToHfOptions)}. */
    List<Map.Entry<String, ShardedTensor>> toHfSharded(String fqn, ShardedTensor tensor, ToHfOptions options) {
        GroupedKey scalesOf = Fp8GroupedScales.parse(naming, fqn);
        if (scalesOf != null) {
            return keptFp8ScalesToHfSharded(fqn, scalesOf, tensor, options);
        }
        if (LoraExpertSuffix.of(fqn, naming.segment()) != null) {
            return loraToHfSharded(fqn, tensor, options);
        }
        GroupedLayout.Key g = layout.parse(naming, fqn);
        if (g == null || !isSplittable(fqn, g, tensor.globalShape())) {
            return options.excludes(fqn) ? List.of() : List.of(Map.entry(fqn, tensor));
        }
        String what = layout == GroupedLayout.DEEPEP && g.name().equals("down_projs")
                ? "down_projs (DeepEP)" : g.name();
        ExpertSplitter.validate(tensor, config.numExperts(), what + " layer " + g.layer());
        ExpertSplit split = adapter.splitExperts(tensor);
        ExpertMesh each = ExpertMesh.of(split, tensor);
        String prefix = options.prefixOverride() != null ? options.prefixOverride() : g.prefix();
        if (options.writeThrough()) {
            registerInplaceLoaded(fqn, options.prefixOverride());
        }
        List<Projection> held = layout.projectionsIn(g.name(), config.gated());
        List<Map.Entry<String, ShardedTensor>> out = new ArrayList<>();
        for (int i = 0; i < split.size(); i++) {
            Tensor w = split.experts().get(i).unsqueeze(0);
            int id = split.expertIds().get(i);
            for (Projection p : held) {
                String key = naming.perExpertKey(prefix, g.layer(), id, p);
                if (options.excludes(key)) {
                    continue;
                }
                List<Placement> placements = projectionPlacements(fqn, p, each.placements());
                Tensor view = materialize(layout.projection(w, p, config.intermediate(), config.gated()).select(0, 0),
                        options);
                out.add(Map.entry(key, each.wrap(view, placements)));
            }
        }
        return out;
    }

    /**
     * Sharded grouped FP8 scales to each of this rank's experts' {@code weight_scale_inv}, sharded as the expert's
     * weight is: the slot of each projection in HF orientation, its placements following the same transpose (DeepEP,
     * the one layout that keeps scales), so that the local scales cover exactly the local piece of the weight.
     */
    private List<Map.Entry<String, ShardedTensor>> keptFp8ScalesToHfSharded(String fqn, GroupedKey g,
                                                                           ShardedTensor scales, ToHfOptions options) {
        ExpertSplitter.validate(scales, config.numExperts(), fqn);
        ExpertSplit split = adapter.splitExperts(scales);
        ExpertMesh each = ExpertMesh.of(split, scales);
        String prefix = options.prefixOverride() != null ? options.prefixOverride() : g.prefix();
        List<Map.Entry<String, ShardedTensor>> out = new ArrayList<>();
        for (int i = 0; i < split.size(); i++) {
            Tensor expert = split.experts().get(i).unsqueeze(0);
            for (Projection p : Fp8GroupedScales.parts(g.projection(), config)) {
                String key = naming.perExpertKey(prefix, g.layer(), split.expertIds().get(i), p)
                        + Fp8BlockDequantizer.SCALE_SUFFIX;
                if (!options.excludes(key)) {
                    Tensor slot = materialize(Fp8GroupedScales.slot(expert, 0, p, config).t(), options);
                    out.add(Map.entry(key, each.wrap(slot, projectionPlacements(fqn, p, each.placements()))));
                }
            }
        }
        return out;
    }

    /**
     * Sharded grouped LoRA [E_local, ...] to this rank's experts' PEFT tensors (or, holding all E, the ParamWrapper
     * ones), each replicated over the grouped mesh without its expert dimension: LoRA is cut along the experts only.
     */
    private List<Map.Entry<String, ShardedTensor>> loraToHfSharded(String fqn, ShardedTensor tensor,
                                                                  ToHfOptions options) {
        DeviceMesh mesh = tensor.expertMeshDim().isPresent()
                ? tensor.mesh().without(tensor.expertMeshDim().getAsInt()) : tensor.mesh();
        List<Placement> replicated = Collections.nCopies(mesh.ndim(), Placement.replicate());
        List<Map.Entry<String, ShardedTensor>> out = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : toHf(fqn, tensor, options)) {
            out.add(Map.entry(e.getKey(), new ShardedTensor(e.getValue().sizes(), mesh, replicated, e.getValue())));
        }
        return out;
    }

    /**
     * The mesh and placements of each expert of a split sharded grouped tensor: the grouped mesh without its expert
     * dimension. When no remaining dimension is larger than 1 the split says the views are plain; they are then
     * replicated over that (trivial) mesh.
     */
    private record ExpertMesh(DeviceMesh mesh, List<Placement> placements) {
        static ExpertMesh of(ExpertSplit split, ShardedTensor grouped) {
            if (split.isSharded()) {
                return new ExpertMesh(split.mesh(), split.placements());
            }
            DeviceMesh mesh = grouped.expertMeshDim().isPresent()
                    ? grouped.mesh().without(grouped.expertMeshDim().getAsInt()) : grouped.mesh();
            return new ExpertMesh(mesh, Collections.nCopies(mesh.ndim(), Placement.replicate()));
        }

        /** {@code local} under {@code localPlacements} over this mesh, its global shape grown by each shard's count. */
        ShardedTensor wrap(Tensor local, List<Placement> localPlacements) {
            long[] global = local.sizes();
            for (int d = 0; d < localPlacements.size(); d++) {
                if (localPlacements.get(d) instanceof Placement.Shard s) {
                    global[s.dim()] *= mesh.sizes()[d];
                }
            }
            return new ShardedTensor(global, mesh, localPlacements, local);
        }
    }

    /**
     * The placements of one expert's projection in HF orientation, from those of the expert's grouped view: a
     * {@code Shard(d)} follows the axis through the layout's transpose. Gate and up cut out of a fused axis that is
     * itself sharded would not be this rank's piece of the global gate or up, so that is refused.
     */
    private List<Placement> projectionPlacements(String fqn, Projection p, List<Placement> expertPlacements) {
        List<Placement> mapped = new ArrayList<>(expertPlacements.size());
        for (Placement placement : expertPlacements) {
            if (placement instanceof Placement.Shard s) {
                int d = layout.transposes(p) ? 1 - s.dim() : s.dim();
                if (d == 0 && layout.narrows(p, config.gated())) {
                    throw new IllegalArgumentException(fqn + " is sharded along its fused gate/up axis ("
                            + expertPlacements + " per expert); gate and up cannot be split from a shard of it."
                            + " Gather that axis first, or shard the other one");
                }
                mapped.add(Placement.shard(d));
            } else {
                mapped.add(placement);
            }
        }
        return mapped;
    }

    /** Per-expert views of {@code grouped}: all E experts, or those of {@code options}' local experts. */
    private ExpertSplit split(Tensor grouped, ToHfOptions options) {
        return options.localExperts() == null
                ? adapter.splitExperts(grouped) : adapter.splitExperts(grouped, options.localExperts());
    }

    /**
     * DeepEP's {@code down_projs} is split only when its second axis is I, as the reference does: a [E, H, I] tensor of
     * that name is GroupedExperts' and passes through. The other layouts' tensors must have their layout's shape.
     */
    private boolean isSplittable(String fqn, GroupedLayout.Key g, long[] shape) {
        if (layout == GroupedLayout.DEEPEP) {
            return !g.name().equals("down_projs") || (shape.length == 3 && shape[1] == config.intermediate());
        }
        long[] want = layout.shape(g.name(), shape.length == 0 ? 0 : shape[0], config);
        long[] have = shape.length == 3 ? Arrays.copyOfRange(shape, 1, 3) : shape;
        if (!Arrays.equals(Arrays.copyOfRange(want, 1, 3), have)) {
            throw new IllegalArgumentException(fqn + ": a " + layout.cliName() + " grouped tensor of this model must"
                    + " have shape [E, " + want[1] + ", " + want[2] + "], got " + Arrays.toString(shape));
        }
        return true;
    }

    private List<Map.Entry<String, Tensor>> perExpert(String fqn, GroupedLayout.Key g, ExpertSplit split,
                                                      ToHfOptions options) {
        String prefix = options.prefixOverride() != null ? options.prefixOverride() : g.prefix();
        if (options.writeThrough()) {
            registerInplaceLoaded(fqn, options.prefixOverride());
        }
        List<Projection> held = layout.projectionsIn(g.name(), config.gated());
        List<Map.Entry<String, Tensor>> out = new ArrayList<>();
        for (int i = 0; i < split.size(); i++) {
            // The layout's projection view of one expert: unsqueeze to [1, ...] so that the [E, ...] view applies.
            Tensor w = split.experts().get(i).unsqueeze(0);
            int id = split.expertIds().get(i);
            for (Projection p : held) {
                Tensor view = layout.projection(w, p, config.intermediate(), config.gated()).select(0, 0);
                out.add(Map.entry(naming.perExpertKey(prefix, g.layer(), id, p), materialize(view, options)));
            }
        }
        return filtered(out, options);
    }

    /** Grouped FP8 scales back to each expert's {@code weight_scale_inv}: the transposed slot of each expert. */
    private List<Map.Entry<String, Tensor>> keptFp8ScalesToHf(GroupedKey g, Tensor scales, ToHfOptions options) {
        String prefix = options.prefixOverride() != null ? options.prefixOverride() : g.prefix();
        ExpertSplit split = split(scales, options);
        List<Projection> projections = g.projection() == GroupedProjection.DOWN_PROJS ? List.of(Projection.DOWN)
                : config.gated() ? List.of(Projection.GATE, Projection.UP) : List.of(Projection.UP);
        List<Map.Entry<String, Tensor>> out = new ArrayList<>();
        for (int i = 0; i < split.size(); i++) {
            for (Projection p : projections) {
                Tensor slot = Fp8GroupedScales.slot(scales, i, p, config);
                out.add(Map.entry(naming.perExpertKey(prefix, g.layer(), split.expertIds().get(i), p)
                        + Fp8BlockDequantizer.SCALE_SUFFIX, materialize(slot.t(), options)));
            }
        }
        return filtered(out, options);
    }

    private List<Map.Entry<String, Tensor>> loraToHf(String fqn, Tensor tensor, LoraExpertSuffix suffix,
                                                     ToHfOptions options) {
        String layerPath = fqn.substring(0, fqn.length() - ("." + naming.segment() + "." + suffix.suffix()).length());
        int at = layerPath.lastIndexOf("layers.");
        String prefix = layerPath.substring(0, at);
        int layer = Integer.parseInt(layerPath.substring(at + "layers.".length()));
        if (options.loraFormat() == ToHfOptions.LoraFormat.PARAM_WRAPPER) {
            // The fold r·E is read back by dividing by E: a fold of fewer experts would come back with a wrong rank.
            if (tensor.dim() != 3 || tensor.size(0) != config.numExperts()) {
                throw new IllegalArgumentException(fqn + ": the ParamWrapper LoRA layout folds all "
                        + config.numExperts() + " experts into the rank, but this tensor has shape "
                        + Arrays.toString(tensor.sizes())
                        + (options.localExperts() != null ? " (experts " + options.localExperts().start() + ":"
                        + options.localExperts().end() + ")" : "")
                        + "; gather every expert first, or write the per-expert LoRA format");
            }
            return filtered(List.of(adapter.loraParamWrapper().toHf(prefix, layer, suffix, tensor)), options);
        }
        return filtered(adapter.loraPerExpert().toHf(prefix, layer, suffix, split(tensor, options)), options);
    }

    private static Tensor materialize(Tensor view, ToHfOptions options) {
        return options.views() ? view : view.contiguousCopy();
    }

    private static List<Map.Entry<String, Tensor>> filtered(List<Map.Entry<String, Tensor>> entries,
                                                            ToHfOptions options) {
        if (options.excludeKeyRegex() == null) {
            return entries;
        }
        List<Map.Entry<String, Tensor>> kept = new ArrayList<>(entries.size());
        for (Map.Entry<String, Tensor> e : entries) {
            if (!options.excludes(e.getKey())) {
                kept.add(e);
            }
        }
        return kept;
    }

    /**
     * Marks grouped key {@code fqn} as loaded in place. Under a prefix override such as {@code "mtp."} the HF keys
     * live in that namespace and are converted with it stripped, so the recorded key is stripped too.
     */
    private void registerInplaceLoaded(String fqn, String prefixOverride) {
        String tracked = fqn;
        if (prefixOverride != null && prefixOverride.endsWith(".") && fqn.startsWith(prefixOverride)) {
            tracked = fqn.substring(prefixOverride.length());
        }
        adapter.markInplaceLoaded(tracked);
    }
}
