package dev.moeshard.moe;

import dev.moeshard.moe.lora.LoraParamWrapperFormat;
import dev.moeshard.moe.lora.LoraPerExpertFormat;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.parallel.ExpertSplit;
import dev.moeshard.moe.parallel.ExpertSplitter;
import dev.moeshard.moe.parallel.ShardedTensor;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
 *
 * <p>This class holds what both directions share; the conversions themselves are in {@code HfToGrouped} and
 * {@code GroupedToHf}, the headers-only plan of {@code fromHf} in {@code HfToGroupedPlan} (on the same rules), the
 * check that a checkpoint has every needed expert in {@code ExpertAvailability}.
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

    private final HfToGrouped hfToGrouped;
    private final HfToGroupedPlan hfToGroupedPlan;
    private final GroupedToHf groupedToHf;

    /** An adapter to and from the {@link GroupedLayout#DEEPEP} layout. */
    public MoeStateDictAdapter(MoeConfig config, ExpertNaming naming) {
        this(config, naming, GroupedLayout.DEEPEP);
    }

    /**
     * An adapter to and from grouped tensors in {@code layout}; {@code hf-v5} of a non-gated model is its
     * {@code up_proj} form, as transformers 5 names it ({@link GroupedLayout#formFor}).
     */
    public MoeStateDictAdapter(MoeConfig config, ExpertNaming naming, GroupedLayout layout) {
        this.config = config;
        // Keys under the config's identity experts are not per-expert keys: they pass through both directions.
        this.naming = naming.withIdentityExperts(config);
        this.layout = layout.formFor(false, config.gated());
        if (this.layout.tensorNames(config.gated()).isEmpty()) {
            throw new IllegalArgumentException(layout + " holds non-gated experts only; this model is gated");
        }
        this.loraPerExpert = new LoraPerExpertFormat(config, this.naming);
        this.loraParamWrapper = new LoraParamWrapperFormat(config.numExperts(), naming.segment());
        // Last: both read the configuration above.
        this.hfToGrouped = new HfToGrouped(this);
        this.hfToGroupedPlan = new HfToGroupedPlan(this);
        this.groupedToHf = new GroupedToHf(this);
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
                    + range.start() + ":" + range.end() + "), got "
                    + (grouped.dim() == 0 ? "a scalar" : grouped.size(0)));
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
        return hfToGrouped.concatenateExperts(expertsByLayer);
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
        ExpertAvailability.validate(this, hfKeys, mesh);
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
     * {@link #fromHf(Map, FromHfOptions)} for this rank of {@code options}' mesh (which must have an {@code ep}
     * dimension), each entry wrapped as a sharded tensor like the reference's DTensors. Grouped expert tensors have
     * global shape [E, ...] and placements {@code ep} → {@code Shard(0)}; {@code ep_shard} → {@code Shard(1)} and
     * {@code ep_replicate} → {@code Replicate} when either of those is larger than 1 (see
     * {@link ShardedTensor#forGroupedExperts}), the local tensor then being this rank's {@code ep_shard} piece of
     * dimension 1. Kept FP8 grouped block scales get their weight's placements and the scale rows of its piece (a
     * piece that does not start and end on a 128-row block is refused); a per-expert weight's per-channel
     * {@code weight_scale} is cut with its rows where the piece cuts them, else replicated (see {@code ShardedScales}).
     * Grouped expert LoRA, [E_local, ...] of this rank's experts, gets {@code ep} → {@code Shard(0)} and
     * {@code Replicate} elsewhere. Other tensors are replicated over the mesh. A rank with no experts gets no grouped
     * tensors, LoRA included, as from {@code fromHf}.
     */
    public Map<String, ShardedTensor> fromHfSharded(Map<String, Tensor> hf, FromHfOptions options) {
        GroupedSharding.requireExpertMesh(options.mesh()); // before fromHf consumes anything
        return GroupedSharding.shard(fromHf(hf, options), options.mesh(), this);
    }

    /**
     * Converts an HF state dict to grouped form for this rank, handing each entry to {@code sink} as soon as it is
     * ready: non-expert tensors at once, each layer's grouped tensor the moment its last local expert is read.
     * Entries are removed from {@code hf} (which must be mutable) as they are consumed, so that neither map keeps
     * a converted input alive.
     *
     * <p>Before anything moves, {@link #validateExpertAvailability} checks that every needed expert is present.
     * FP8 weights with a {@code _scale_inv} companion are dequantized (experts when their group is built, into
     * memory freed right after); every {@code _scale_inv} key is dropped. A group that still ends incomplete (say, a
     * non-gated model's checkpoint with gate but no up) is an error, never silently dropped. Per-expert and
     * ParamWrapper LoRA keys are regrouped at the end into tensors of this rank's experts, [E_local, ...], by the same
     * {@link ExpertRange} as the weights; LoRA keys of other ranks' experts are dropped.
     */
    public void fromHf(Map<String, Tensor> hf, FromHfOptions options, BiConsumer<String, Tensor> sink) {
        hfToGrouped.fromHf(hf, options, sink);
    }

    /**
     * What {@link #fromHf(Map, FromHfOptions)} makes of a state dict with these headers (key → name, dtype, shape), from
     * the headers alone: the name, dtype and shape of every tensor it emits for {@code options}' mesh, dtypes and
     * {@code keepFp8}, by the same rules. Non-expert tensors pass through (block-quantized FP8 ones as
     * {@link FromHfOptions#dequantizedDtype()}, or followed by their scales when kept); each layer's per-expert tensors
     * become the layout's grouped tensors of this rank's experts, e.g. {@code gate_and_up_projs} [E_local, H, 2I] and
     * {@code down_projs} [E_local, I, H] (none for a rank with no experts), each followed under {@code keepFp8} by its
     * grouped scales; transformers-v5 fused tensors become the layout's tensors they feed; expert LoRA is regrouped
     * for this rank's experts too, e.g. {@code lora_gate_and_up_A} [E_local, H, r] (none for a rank with no experts).
     *
     * <p>The list is in the order a file-to-file conversion lays its output out: input order, each layer's grouped
     * tensors where its first per-expert key stands, LoRA last ({@code fromHf} emits the same tensors in the order
     * they are complete). It is what a fresh adapter emits: grouped keys registered for write-through are listed too,
     * as the tensors a write-through load fills. Nothing is read or converted, and this adapter's state is unchanged.
     *
     * @throws MissingExpertWeightsException when an expert this rank needs is missing, as {@code fromHf} does
     * @throws IllegalArgumentException for what {@code fromHf} would refuse that the headers show: fused expert
     *     tensors of the wrong shape, expert projections of other shapes than their group's, scales that do not fit
     *     their FP8 weight, FP8 kept where it cannot be, LoRA tensors that cannot be regrouped
     */
    public List<TensorSpec> planFromHf(Map<String, TensorSpec> hf, FromHfOptions options) {
        return hfToGroupedPlan.plan(hf, options);
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
        return groupedToHf.toHf(grouped, options);
    }

    /** The HF entries of one plain tensor: per-expert tensors for grouped keys, else the entry itself. */
    public List<Map.Entry<String, Tensor>> toHf(String fqn, Tensor tensor, ToHfOptions options) {
        return groupedToHf.toHf(fqn, tensor, options);
    }

    /**
     * The HF entries of one sharded tensor: local views of this rank's experts for grouped keys, and the rank's
     * experts' local pieces of kept FP8 grouped scales and of grouped LoRA.
     */
    public List<Map.Entry<String, Tensor>> toHf(String fqn, ShardedTensor tensor, ToHfOptions options) {
        return groupedToHf.toHf(fqn, tensor, options);
    }

    /**
     * The HF entries of one sharded tensor, as sharded tensors: for grouped keys, each of this rank's experts'
     * projections over the grouped mesh without its expert dimension, an inner {@code Shard(d)} of the grouped tensor
     * becoming {@code Shard(d-1)} on the expert (and following the layout's transpose into HF orientation, e.g.
     * DeepEP's {@code gate_and_up_projs} [E, H, 2I] under {@code Shard(1)} gives gate [I, H] under {@code Shard(1)});
     * the global shape is the expert's full HF shape. Kept FP8 grouped scales give each expert's
     * {@code weight_scale_inv} sharded the same way as its weight, so that the local scales cover exactly the local
     * piece; grouped LoRA gives this rank's experts' PEFT tensors, replicated over that mesh. Other keys pass through
     * as they are.
     *
     * @throws IllegalArgumentException when gate and up would have to be cut from a shard of their fused axis
     */
    public List<Map.Entry<String, ShardedTensor>> toHfSharded(String fqn, ShardedTensor tensor, ToHfOptions options) {
        return groupedToHf.toHfSharded(fqn, tensor, options);
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
        return hfToGrouped.loadInto(storage, hf, options);
    }

    /**
     * The write-through targets of grouped storage holding the experts of {@code range}: for each per-expert HF key,
     * the strided view of {@code storage}'s grouped tensor it is copied into (in HF orientation, e.g. gate [I, H] as
     * a transposed slice of {@code gate_and_up_projs} [E, H, 2I]). Each grouped key is registered for write-through,
     * so that a later {@link #fromHf} leaves it alone. Entries of {@code storage} that are not grouped expert tensors
     * are ignored. The one mapping {@link #loadInto} and file-to-file conversions both copy through.
     */
    public Map<String, Tensor> writeThroughTargets(Map<String, Tensor> storage, ExpertRange range) {
        ToHfOptions options = ToHfOptions.defaults().withWriteThrough(true).withLocalExperts(range);
        Map<String, Tensor> targets = new HashMap<>();
        for (Map.Entry<String, Tensor> e : storage.entrySet()) {
            if (layout.parse(naming, e.getKey()) != null) {
                for (Map.Entry<String, Tensor> t : toHf(e.getKey(), e.getValue(), options)) {
                    targets.put(t.getKey(), t.getValue());
                }
            }
        }
        return targets;
    }

    // ---------------------------------------------------------------------------------------------- shared state

    LoraPerExpertFormat loraPerExpert() {
        return loraPerExpert;
    }

    LoraParamWrapperFormat loraParamWrapper() {
        return loraParamWrapper;
    }

    /** Whether grouped key {@code groupedKey} is registered for write-through. */
    boolean isInplaceLoaded(String groupedKey) {
        return inplaceLoadedKeys.contains(groupedKey);
    }

    /** Registers grouped key {@code groupedKey} for write-through: the next {@code fromHf} consumes it. */
    void markInplaceLoaded(String groupedKey) {
        inplaceLoadedKeys.add(groupedKey);
    }

    /** Moves {@code groupedKeys}, consumed by a {@code fromHf}, from the write-through keys to the view-loaded ones. */
    void consumeInplaceLoaded(Set<String> groupedKeys) {
        inplaceLoadedKeys.removeAll(groupedKeys);
        viewLoadedKeys.addAll(groupedKeys);
    }

    void resetViewLoadedKeys() {
        viewLoadedKeys = new LinkedHashSet<>();
    }
}
