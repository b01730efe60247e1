package dev.moeshard.moe;

import dev.moeshard.moe.ExpertNaming.ExpertKey;
import dev.moeshard.moe.ExpertNaming.GroupedKey;
import dev.moeshard.moe.lora.LoraExpertSuffix;
import dev.moeshard.moe.lora.LoraParamWrapperFormat;
import dev.moeshard.moe.lora.LoraPerExpertFormat;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.parallel.ExpertSplit;
import dev.moeshard.moe.parallel.ExpertSplitter;
import dev.moeshard.moe.parallel.ShardedTensor;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.moe.quant.Fp8GroupedScales;
import dev.moeshard.moe.quant.Fp8ScaleGrouper;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.TensorOps;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BiConsumer;

/**
 * Converts MoE state dicts between the HF per-expert layout and the grouped layout, for one rank.
 *
 * <p>Grouped: {@code {p}layers.{L}.{seg}.gate_and_up_projs} [E, H, 2I] (gateᵀ in columns [0, I), upᵀ in [I, 2I);
 * non-gated [E, H, I] = upᵀ) and {@code down_projs} [E, I, H] = downᵀ. Per expert: {@code gate} [I, H],
 * {@code up} [I, H], {@code down} [H, I]. Under expert parallelism a rank holds only its {@link ExpertRange}.
 *
 * <p>The adapter remembers, like the reference mixin, the global ids of the last split and the grouped keys that
 * were loaded in place through strided views; one adapter serves one model on one rank, not several threads.
 */
public final class MoeStateDictAdapter {
    private final MoeConfig config;
    private final ExpertNaming naming;
    private final GroupedLayout layout;
    private final LoraPerExpertFormat loraPerExpert;
    private final LoraParamWrapperFormat loraParamWrapper;

    private List<Integer> lastExpertIds = List.of();
    // Grouped keys whose HF views a loader writes through; the next fromHf consumes them instead of rebuilding.
    private final Set<String> inplaceLoadedKeys = new LinkedHashSet<>();
    private Set<String> viewLoadedKeys = new LinkedHashSet<>();

    /** An adapter to and from the {@link GroupedLayout#DEEPEP} layout. */
    public MoeStateDictAdapter(MoeConfig config, ExpertNaming naming) {
        this(config, naming, GroupedLayout.DEEPEP);
    }

    /** An adapter to and from grouped tensors in {@code layout}. */
    public MoeStateDictAdapter(MoeConfig config, ExpertNaming naming, GroupedLayout layout) {
        this.config = config;
        this.naming = naming;
        this.layout = layout;
        this.loraPerExpert = new LoraPerExpertFormat(config, naming);
        this.loraParamWrapper = new LoraParamWrapperFormat(config.numExperts(), naming.segment());
    }

    public MoeConfig config() {
        return config;
    }

    public ExpertNaming naming() {
        return naming;
    }

    /** The grouped layout this adapter writes and reads. */
    public GroupedLayout layout() {
        return layout;
    }

    /** The grouped key of {@code projection} of one layer in this adapter's layout. */
    public String groupedKey(String prefix, int layer, Projection projection) {
        return layout.key(naming, prefix, layer, layout.tensorOf(projection));
    }

    /** Global ids of the experts the last split returned, in order. */
    public List<Integer> lastExpertIds() {
        return lastExpertIds;
    }

    /**
     * Grouped keys that the most recent load wrote in place through strided views: absent from what
     * {@code fromHf} returned, but not missing. Reset at the start of each {@code fromHf} unless
     * {@link FromHfOptions#resetViewLoadedKeys()} is false.
     */
    public Set<String> viewLoadedKeys() {
        return Collections.unmodifiableSet(new LinkedHashSet<>(viewLoadedKeys));
    }

    /** Grouped keys registered for write-through by {@code toHf} and not yet consumed by a {@code fromHf}. */
    public Set<String> inplaceLoadedKeys() {
        return Collections.unmodifiableSet(new LinkedHashSet<>(inplaceLoadedKeys));
    }

    /** The experts this rank of {@code mesh} loads (all when {@code mesh} is null). */
    public ExpertRange expertRange(DeviceMesh mesh) {
        return ExpertRange.forMesh(mesh, config.numExperts());
    }

    /** Whether this rank of {@code mesh} loads expert {@code expertId}. */
    public boolean shouldLoadExpert(int expertId, DeviceMesh mesh) {
        return expertRange(mesh).contains(expertId);
    }

    // ---------------------------------------------------------------------------------------------- splitting

    /** Per-expert views of a plain grouped tensor [E, ...]; its first dimension must be E. */
    public ExpertSplit splitExperts(Tensor grouped) {
        return remember(ExpertSplitter.split(grouped, config.numExperts()));
    }

    /** Per-expert views of the experts this rank holds of a sharded grouped tensor, with their global ids. */
    public ExpertSplit splitExperts(ShardedTensor grouped) {
        return remember(ExpertSplitter.split(grouped, config.numExperts()));
    }

    /** Per-expert views of a plain tensor [E_local, ...] that holds the experts of {@code range}. */
    public ExpertSplit splitExperts(Tensor grouped, ExpertRange range) {
        if (range.count() == config.numExperts()) {
            return splitExperts(grouped);
        }
        if (grouped.dim() == 0 || grouped.size(0) != range.count()) {
            throw new IllegalArgumentException("Expected first dimension to be " + range.count() + " (experts "
                    + range.start() + ":" + range.end() + "), got " + (grouped.dim() == 0 ? "a scalar" : grouped.size(0)));
        }
        List<Tensor> views = new ArrayList<>();
        for (int i = 0; i < range.count(); i++) {
            views.add(grouped.select(0, i));
        }
        return remember(new ExpertSplit(range.ids(), views, null, List.of()));
    }

    private ExpertSplit remember(ExpertSplit split) {
        lastExpertIds = split.expertIds();
        return split;
    }

    /**
     * Stacks the first complete group of {@code expertsByLayer} (layer → grouped key → expert id → tensor), in
     * ascending expert id, and removes it from the map; null when no group has all E experts.
     */
    public Tensor concatenateExperts(Map<String, Map<String, Map<Integer, Tensor>>> expertsByLayer) {
        for (var layer = expertsByLayer.entrySet().iterator(); layer.hasNext(); ) {
            Map<String, Map<Integer, Tensor>> groups = layer.next().getValue();
            for (var group = groups.entrySet().iterator(); group.hasNext(); ) {
                Map<Integer, Tensor> experts = group.next().getValue();
                if (experts.size() == config.numExperts()) {
                    List<Tensor> ordered = new ArrayList<>();
                    for (Integer id : new TreeSet<>(experts.keySet())) {
                        ordered.add(experts.get(id));
                    }
                    group.remove();
                    if (groups.isEmpty()) {
                        layer.remove();
                    }
                    return TensorOps.stack(ordered, 0);
                }
            }
        }
        return null;
    }

    // ---------------------------------------------------------------------------------------------- validation

    /**
     * Checks that every expert weight this rank needs is among {@code hfKeys}, for every layer (and prefix) that
     * has per-expert keys at all. Groups registered for write-through are checked against the ids of the last
     * split instead of this rank's range.
     *
     * @throws MissingExpertWeightsException with the reference's message when any is missing
     */
    public void validateExpertAvailability(Set<String> hfKeys, DeviceMesh mesh) {
        int numExperts = config.numExperts();
        List<Integer> required = ExpertRange.forMesh(mesh, numExperts).ids();
        String rankInfo = mesh == null ? "" : " (rank " + mesh.rank() + ")";

        Map<Integer, Set<String>> layersWithExperts = new LinkedHashMap<>();
        for (String key : hfKeys) {
            ExpertKey k = naming.parsePerExpert(key);
            if (k != null) {
                layersWithExperts.computeIfAbsent(k.layer(), l -> new LinkedHashSet<>()).add(k.prefix());
            }
        }
        if (layersWithExperts.isEmpty()) {
            return;
        }
        List<Projection> projections = config.gated()
                ? List.of(Projection.GATE, Projection.UP, Projection.DOWN) : List.of(Projection.UP, Projection.DOWN);
        List<Integer> inplaceIds = lastExpertIds.isEmpty() ? required : lastExpertIds;
        List<String> missing = new ArrayList<>();
        int totalRequired = 0;
        for (Map.Entry<Integer, Set<String>> layer : layersWithExperts.entrySet()) {
            for (String prefix : layer.getValue()) {
                for (Projection p : projections) {
                    String groupedKey = groupedKey(prefix, layer.getKey(), p);
                    List<Integer> ids = inplaceLoadedKeys.contains(groupedKey) ? inplaceIds : required;
                    totalRequired += ids.size();
                    for (int id : ids) {
                        String expected = naming.perExpertKey(prefix, layer.getKey(), id, p);
                        if (!hfKeys.contains(expected)) {
                            missing.add(expected);
                        }
                    }
                }
            }
        }
        if (!missing.isEmpty()) {
            int n = missing.size();
            throw new MissingExpertWeightsException("Expert weights missing from checkpoint" + rankInfo + ": " + n + "/"
                    + totalRequired + " required weights not found. Cannot load experts - checkpoint may be incomplete"
                    + " or corrupted. Layers with experts: " + new TreeSet<>(layersWithExperts.keySet())
                    + ", Required experts: " + required + ". First few missing keys: "
                    + PythonRepr.stringList(missing.subList(0, Math.min(5, n)))
                    + (n > 5 ? " (and " + (n - 5) + " more)" : ""), missing);
        }
    }

    // ---------------------------------------------------------------------------------------------- HF -> grouped

    /** {@link #fromHf(Map, FromHfOptions)} with all experts and the inputs' dtype. */
    public Map<String, Tensor> fromHf(Map<String, Tensor> hf) {
        return fromHf(hf, FromHfOptions.defaults());
    }

    /** The grouped state dict of {@code hf}, collected in a map in the order the entries were emitted. */
    public Map<String, Tensor> fromHf(Map<String, Tensor> hf, FromHfOptions options) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        fromHf(hf, options, out::put);
        return out;
    }

    /**
     * Converts an HF state dict to grouped form for this rank, handing each entry to {@code sink} as soon as it is
     * ready: non-expert tensors at once, each layer's grouped tensor the moment its last local expert is read.
     * Entries are removed from {@code hf} (which must be mutable) as they are consumed, so that neither map keeps
     * a converted input alive.
     *
     * <p>Before anything moves, {@link #validateExpertAvailability} checks that every needed expert is present.
     * FP8 weights with a {@code _scale_inv} companion are dequantized (experts when their group is built, into
     * memory freed right after); every {@code _scale_inv} key is dropped. A group that still ends incomplete (say, a non-gated model's checkpoint with gate but no up) is an
     * error, never silently dropped. Per-expert and ParamWrapper LoRA keys are regrouped at the end.
     */
    public void fromHf(Map<String, Tensor> hf, FromHfOptions options, BiConsumer<String, Tensor> sink) {
        if (options.resetViewLoadedKeys()) {
            viewLoadedKeys = new LinkedHashSet<>();
        }
        DeviceMesh mesh = options.mesh();
        validateExpertAvailability(hf.keySet(), mesh);
        ExpertRange range = ExpertRange.forMesh(mesh, config.numExperts());
        ExpertGroupAssembler assembler = new ExpertGroupAssembler(layout, config.gated(), range, options.outputDtype(),
                options.dequantizedDtype(), options.device(), options::allocationArena);
        Map<String, Tensor> scales = new HashMap<>();
        for (Map.Entry<String, Tensor> e : hf.entrySet()) {
            if (e.getKey().endsWith(Fp8BlockDequantizer.SCALE_SUFFIX)) {
                scales.put(e.getKey(), e.getValue());
            }
        }
        Fp8ScaleGrouper keptScales = options.keepFp8() ? keptFp8Scales(range, scales) : null;
        Set<String> consumedInplace = new LinkedHashSet<>();
        Map<String, Tensor> lora = new LinkedHashMap<>();
        for (String key : new ArrayList<>(hf.keySet())) {
            Tensor value = hf.remove(key);
            if (key.endsWith(Fp8BlockDequantizer.SCALE_SUFFIX)) {
                if (keptScales != null) {
                    ExpertKey of = keptScales.parse(key);
                    Map.Entry<String, Tensor> grouped = of == null ? Map.entry(key, value) : keptScales.add(of, key, value);
                    if (grouped != null) {
                        sink.accept(grouped.getKey(), grouped.getValue());
                    }
                }
                continue;
            }
            // Dequantized only where the value is used: an expert of another rank, or one already written in place
            // (loadInto, to-grouped), would otherwise be dequantized into a temporary only to be dropped.
            ExpertKey expert = naming.parsePerExpert(key);
            if (expert == null) {
                if (keptScales == null) {
                    value = dequantizeIfBlockQuantized(key, value, scales, options);
                }
                if (isLoraExpertKey(key)) {
                    lora.put(key, value);
                } else if (!fusedExpertsToGrouped(key, value, range, options, sink)) {
                    sink.accept(key, value);
                }
                continue;
            }
            String groupedKey = groupedKey(expert.prefix(), expert.layer(), expert.projection());
            if (inplaceLoadedKeys.contains(groupedKey)) {
                consumedInplace.add(groupedKey);
                continue;
            }
            if (!range.contains(expert.expert())) {
                continue;
            }
            // A block-quantized expert goes in with its scales: the assembler dequantizes a group's experts when it
            // builds the group, into memory it frees right after.
            Tensor scale = keptScales == null && value.dtype().isFp8()
                    ? scales.get(key + Fp8BlockDequantizer.SCALE_SUFFIX) : null;
            Tensor grouped = assembler.add(groupedKey, layout.tensorOf(expert.projection()), expert.expert(),
                    expert.projection(), key, value, scale);
            if (grouped != null) {
                sink.accept(groupedKey, grouped);
            }
        }
        Map<String, List<Integer>> incomplete = assembler.incomplete();
        if (!incomplete.isEmpty()) {
            throw new IllegalStateException("expert groups left incomplete after reading the whole checkpoint (this rank"
                    + " needs experts " + range.ids() + "): " + incomplete
                    + "; for a gated model every expert needs gate, up and down projections");
        }
        if (!consumedInplace.isEmpty()) {
            inplaceLoadedKeys.removeAll(consumedInplace);
            viewLoadedKeys.addAll(consumedInplace);
        }
        if (!lora.isEmpty()) {
            Map<String, Tensor> grouped = loraParamWrapper.toGrouped(loraPerExpert.toGrouped(lora), naming.segment());
            grouped.forEach(sink);
        }
    }

    /** The grouper of kept FP8 expert scales, after checking that gate and up blocks line up. */
    private Fp8ScaleGrouper keptFp8Scales(ExpertRange range, Map<String, Tensor> scales) {
        String refusal = Fp8GroupedScales.refusal(config);
        if (refusal != null && !scales.isEmpty()) {
            throw new IllegalArgumentException("cannot keep FP8 experts as FP8: " + refusal);
        }
        return new Fp8ScaleGrouper(config, naming, range);
    }

    private Tensor dequantizeIfBlockQuantized(String key, Tensor value, Map<String, Tensor> scales, FromHfOptions options) {
        Tensor scale = scales.get(key + Fp8BlockDequantizer.SCALE_SUFFIX);
        if (scale == null || !value.dtype().isFp8()) {
            return value;
        }
        return Fp8BlockDequantizer.dequantize(value, scale, options.dequantizedDtype(), key);
    }

    private boolean isLoraExpertKey(String key) {
        return key.contains("." + naming.segment() + ".") && (key.contains(".lora_A.") || key.contains(".lora_B."));
    }

    /**
     * Transformers v5 fused experts ({@code {seg}.gate_up_proj} [E, 2I, H] gate rows first, {@code {seg}.down_proj}
     * [E, H, I]) to this adapter's layout: each target tensor whose projections this one holds, one strided copy of
     * this rank's experts each. Returns false for other keys.
     */
    private boolean fusedExpertsToGrouped(String key, Tensor value, ExpertRange range, FromHfOptions options,
                                          BiConsumer<String, Tensor> sink) {
        String gateUpSuffix = "." + naming.segment() + ".gate_up_proj";
        String downSuffix = "." + naming.segment() + ".down_proj";
        boolean gateUp = key.endsWith(gateUpSuffix);
        if ((!gateUp && !key.endsWith(downSuffix)) || value.dim() != 3 || !key.contains("layers.")) {
            return false;
        }
        long[] expected = gateUp
                ? new long[] {config.numExperts(), config.gateUpWidth(), config.hidden()}
                : new long[] {config.numExperts(), config.hidden(), config.intermediate()};
        if (!Arrays.equals(value.sizes(), expected)) {
            throw new IllegalArgumentException(key + ": a transformers-v5 fused expert tensor of this model must have"
                    + " shape " + Arrays.toString(expected) + ", got " + Arrays.toString(value.sizes()));
        }
        String base = key.substring(0, key.length() - (gateUp ? gateUpSuffix : downSuffix).length());
        Tensor local = value.narrow(0, range.start(), range.count());
        String source = GroupedLayout.HF_V5.tensorOf(gateUp ? Projection.UP : Projection.DOWN);
        for (String name : layout.tensorNames(config.gated())) {
            List<Projection> held = layout.projectionsIn(name, config.gated());
            if (!GroupedLayout.HF_V5.tensorOf(held.get(0)).equals(source)) {
                continue; // fed by the other fused tensor
            }
            Tensor out = Tensor.allocate(options.allocationArena(),
                    options.outputDtype() != null ? options.outputDtype() : value.dtype(),
                    layout.shape(name, range.count(), config));
            LayoutConversion.copy(GroupedLayout.HF_V5, Map.of(source, local), 0, layout, Map.of(name, out), 0,
                    range.count(), config, held);
            sink.accept(base + "." + naming.segment() + "." + name, out);
        }
        return true;
    }

    // ---------------------------------------------------------------------------------------------- grouped -> grouped

    /**
     * A grouped state dict in layout {@code source}, holding all E experts, in this adapter's layout for this rank of
     * {@code options}' mesh: one strided copy per projection from the source's view into the target's, with no
     * per-expert step (see {@link LayoutConversion}). Other entries pass through.
     */
    public Map<String, Tensor> regroup(Map<String, Tensor> grouped, GroupedLayout source, FromHfOptions options) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        LayoutConversion.regroup(grouped, source, layout, naming, config,
                ExpertRange.forMesh(options.mesh(), config.numExperts()), options.outputDtype(), out::put);
        return out;
    }

    // ---------------------------------------------------------------------------------------------- grouped -> HF

    /** The HF state dict of a grouped one, in order; non-expert keys pass through. */
    public Map<String, Tensor> toHf(Map<String, Tensor> grouped, ToHfOptions options) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : grouped.entrySet()) {
            for (Map.Entry<String, Tensor> c : toHf(e.getKey(), e.getValue(), options)) {
                out.put(c.getKey(), c.getValue());
            }
        }
        return out;
    }

    /** The HF entries of one plain tensor: per-expert tensors for grouped keys, else the entry itself. */
    public List<Map.Entry<String, Tensor>> toHf(String fqn, Tensor tensor, ToHfOptions options) {
        GroupedKey scalesOf = Fp8GroupedScales.parse(naming, fqn);
        if (scalesOf != null) {
            return keptFp8ScalesToHf(scalesOf, tensor, options);
        }
        GroupedLayout.Key g = layout.parse(naming, fqn);
        if (g != null && isSplittable(fqn, g, tensor.sizes())) {
            ExpertSplit split = options.localExperts() == null
                    ? splitExperts(tensor) : splitExperts(tensor, options.localExperts());
            return perExpert(fqn, g, split, options);
        }
        LoraExpertSuffix lora = LoraExpertSuffix.of(fqn, naming.segment());
        if (lora != null) {
            return loraToHf(fqn, tensor, lora, options);
        }
        return filtered(List.of(Map.entry(fqn, tensor)), options);
    }

    /** The HF entries of one sharded tensor: local views of this rank's experts for grouped keys. */
    public List<Map.Entry<String, Tensor>> toHf(String fqn, ShardedTensor tensor, ToHfOptions options) {
        GroupedLayout.Key g = layout.parse(naming, fqn);
        long[] global = tensor.globalShape();
        if (g != null && isSplittable(fqn, g, global)) {
            String what = layout == GroupedLayout.DEEPEP && g.name().equals("down_projs") ? "down_projs (DeepEP)" : g.name();
            ExpertSplitter.validate(tensor, config.numExperts(), what + " layer " + g.layer());
            return perExpert(fqn, g, splitExperts(tensor), options);
        }
        return filtered(List.of(Map.entry(fqn, tensor.local())), options);
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
        if (!Arrays.equals(Arrays.copyOfRange(want, 1, 3), shape.length == 3 ? Arrays.copyOfRange(shape, 1, 3) : shape)) {
            throw new IllegalArgumentException(fqn + ": a " + layout.cliName() + " grouped tensor of this model must have"
                    + " shape [E, " + want[1] + ", " + want[2] + "], got " + Arrays.toString(shape));
        }
        return true;
    }

    private List<Map.Entry<String, Tensor>> perExpert(String fqn, GroupedLayout.Key g, ExpertSplit split, ToHfOptions options) {
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
        ExpertSplit split = options.localExperts() == null ? splitExperts(scales) : splitExperts(scales, options.localExperts());
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

    private List<Map.Entry<String, Tensor>> loraToHf(String fqn, Tensor tensor, LoraExpertSuffix suffix, ToHfOptions options) {
        String layerPath = fqn.substring(0, fqn.length() - ("." + naming.segment() + "." + suffix.suffix()).length());
        int at = layerPath.lastIndexOf("layers.");
        String prefix = layerPath.substring(0, at);
        int layer = Integer.parseInt(layerPath.substring(at + "layers.".length()));
        if (options.loraFormat() == ToHfOptions.LoraFormat.PARAM_WRAPPER) {
            // The fold r·E is read back by dividing by E: a fold of fewer experts would come back with a wrong rank.
            if (tensor.dim() != 3 || tensor.size(0) != config.numExperts()) {
                throw new IllegalArgumentException(fqn + ": the ParamWrapper LoRA layout folds all " + config.numExperts()
                        + " experts into the rank, but this tensor has shape " + Arrays.toString(tensor.sizes())
                        + (options.localExperts() != null ? " (experts " + options.localExperts().start() + ":"
                        + options.localExperts().end() + ")" : "")
                        + "; gather every expert first, or write the per-expert LoRA format");
            }
            return filtered(List.of(loraParamWrapper.toHf(prefix, layer, suffix, tensor)), options);
        }
        ExpertSplit split = options.localExperts() == null
                ? splitExperts(tensor) : splitExperts(tensor, options.localExperts());
        return filtered(loraPerExpert.toHf(prefix, layer, suffix, split), options);
    }

    private static Tensor materialize(Tensor view, ToHfOptions options) {
        return options.views() ? view : view.contiguousCopy();
    }

    private static List<Map.Entry<String, Tensor>> filtered(List<Map.Entry<String, Tensor>> entries, ToHfOptions options) {
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
        inplaceLoadedKeys.add(tracked);
    }

    // ---------------------------------------------------------------------------------------------- write-through

    /**
     * Loads {@code hf} into caller-owned grouped storage (a model's parameters, on or off heap): every per-expert
     * tensor is copied straight through a strided view of {@code storage}'s grouped tensors, with no per-expert
     * scratch; the remaining entries go through {@link #fromHf(Map, FromHfOptions)} and are returned. The grouped
     * keys written in place are recorded in {@link #viewLoadedKeys()}. Under expert parallelism {@code storage}
     * holds this rank's experts only. Missing experts are reported before a byte is written.
     */
    public Map<String, Tensor> loadInto(Map<String, Tensor> storage, Map<String, Tensor> hf, FromHfOptions options) {
        ToHfOptions targetsOptions = ToHfOptions.defaults().withWriteThrough(true)
                .withLocalExperts(ExpertRange.forMesh(options.mesh(), config.numExperts()));
        Map<String, Tensor> targets = new HashMap<>();
        for (Map.Entry<String, Tensor> e : storage.entrySet()) {
            if (layout.parse(naming, e.getKey()) != null) {
                for (Map.Entry<String, Tensor> t : toHf(e.getKey(), e.getValue(), targetsOptions)) {
                    targets.put(t.getKey(), t.getValue());
                }
            }
        }
        validateExpertAvailability(hf.keySet(), options.mesh());
        // Plain copies are gathered into one copyAll, which shares whole experts among the copy threads (an
        // expert is often below the size at which a single copy is split); dequantized ones go one by one, so that
        // at most one expert's scratch is alive.
        List<Tensor> copyTargets = new ArrayList<>();
        List<Tensor> copySources = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : hf.entrySet()) {
            Tensor target = targets.get(e.getKey());
            if (target != null) {
                Tensor scale = hf.get(e.getKey() + Fp8BlockDequantizer.SCALE_SUFFIX);
                if (scale == null || !e.getValue().dtype().isFp8()) {
                    copyTargets.add(target);
                    copySources.add(e.getValue());
                } else if (target.device().isCpu() && target.isContiguous()) {
                    // The target is one run of host memory (layouts that keep the expert's row order): no scratch.
                    Fp8BlockDequantizer.dequantizeInto(e.getValue(), scale, target, e.getKey());
                } else {
                    target.copyFrom(Fp8BlockDequantizer.dequantize(e.getValue(), scale, target.dtype(), e.getKey()));
                }
            }
        }
        TensorOps.copyAll(copyTargets, copySources);
        return fromHf(hf, options);
    }
}
