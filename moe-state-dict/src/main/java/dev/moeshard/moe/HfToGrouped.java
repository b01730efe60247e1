package dev.moeshard.moe;

import dev.moeshard.moe.ExpertNaming.ExpertKey;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.moe.quant.Fp8GroupedScales;
import dev.moeshard.moe.quant.Fp8ScaleGrouper;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.TensorOps;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BiConsumer;

/**
 * HF → grouped for a {@link MoeStateDictAdapter}: this rank's per-expert tensors gathered into grouped tensors (or,
 * with {@code loadInto}, copied straight into caller-owned ones), transformers-v5 fused experts copied into the
 * adapter's layout, block-quantized FP8 dequantized or its scales kept and grouped, and LoRA keys regrouped. The
 * keys registered for write-through, and the check that every needed expert is present, are the adapter's.
 */
final class HfToGrouped {
    private final MoeStateDictAdapter adapter;
    private final MoeConfig config;
    private final ExpertNaming naming;
    private final GroupedLayout layout;

    HfToGrouped(MoeStateDictAdapter adapter) {
        this.adapter = adapter;
        this.config = adapter.config();
        this.naming = adapter.naming();
        this.layout = adapter.layout();
    }

    /** See {@link MoeStateDictAdapter#fromHf(Map, FromHfOptions, BiConsumer)}. */
    void fromHf(Map<String, Tensor> hf, FromHfOptions options, BiConsumer<String, Tensor> sink) {
        if (options.resetViewLoadedKeys()) {
            adapter.resetViewLoadedKeys();
        }
        DeviceMesh mesh = options.mesh();
        adapter.validateExpertAvailability(hf.keySet(), mesh);
        ExpertRange range = ExpertRange.forMesh(mesh, config.numExperts());
        ExpertGroupAssembler assembler = new ExpertGroupAssembler(layout, config.gated(), range, options);
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
                    Map.Entry<String, Tensor> grouped = of == null
                            ? Map.entry(key, value) : keptScales.add(of, key, value);
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
                value = dequantizeIfBlockQuantized(key, value, scales, options);
                if (isLoraExpertKey(naming, key)) {
                    lora.put(key, value);
                } else if (!fusedExpertsToGrouped(key, value, range, options, sink)) {
                    sink.accept(key, value);
                }
                continue;
            }
            String groupedKey = adapter.groupedKey(expert.prefix(), expert.layer(), expert.projection());
            if (adapter.isInplaceLoaded(groupedKey)) {
                consumedInplace.add(groupedKey);
                continue;
            }
            if (!range.contains(expert.expert())) {
                continue;
            }
            // A block-quantized expert goes in with its scales: the assembler dequantizes a group's experts when it
            // builds the group, into memory it frees right after.
            Tensor scale = scales.get(key + Fp8BlockDequantizer.SCALE_SUFFIX);
            if (!isDequantized(value.dtype(), scale != null, options)) {
                scale = null;
            }
            Tensor grouped = assembler.add(groupedKey, layout.tensorOf(expert.projection()), expert.expert(),
                    expert.projection(), key, value, scale);
            if (grouped != null) {
                sink.accept(groupedKey, grouped);
            }
        }
        Map<String, List<Integer>> incomplete = assembler.incomplete();
        if (!incomplete.isEmpty()) {
            throw new IllegalStateException("expert groups left incomplete after reading the whole checkpoint"
                    + " (this rank needs experts " + range.ids() + "): " + incomplete
                    + "; for a gated model every expert needs gate, up and down projections");
        }
        if (!consumedInplace.isEmpty()) {
            adapter.consumeInplaceLoaded(consumedInplace);
        }
        if (!lora.isEmpty()) {
            // This rank's experts only, by the range its grouped weights hold.
            Map<String, Tensor> grouped = adapter.loraParamWrapper()
                    .toGrouped(adapter.loraPerExpert().toGrouped(lora, range), naming.segment(), range);
            grouped.forEach(sink);
        }
    }

    /** The grouper of kept FP8 expert scales, after checking that gate and up blocks line up. */
    private Fp8ScaleGrouper keptFp8Scales(ExpertRange range, Map<String, Tensor> scales) {
        requireKeepableFp8(config, layout, !scales.isEmpty());
        return new Fp8ScaleGrouper(config, naming, range);
    }

    private static Tensor dequantizeIfBlockQuantized(String key, Tensor value, Map<String, Tensor> scales,
                                                     FromHfOptions options) {
        Tensor scale = scales.get(key + Fp8BlockDequantizer.SCALE_SUFFIX);
        if (!isDequantized(value.dtype(), scale != null, options)) {
            return value;
        }
        return Fp8BlockDequantizer.dequantize(value, scale, options.dequantizedDtype(), key);
    }

    /**
     * Transformers v5 fused experts ({@code {seg}.gate_up_proj} [E, 2I, H] gate rows first, {@code {seg}.down_proj}
     * [E, H, I]) to this adapter's layout: each target tensor whose projections this one holds, one strided copy of
     * this rank's experts each. Returns false for other keys.
     */
    private boolean fusedExpertsToGrouped(String key, Tensor value, ExpertRange range, FromHfOptions options,
                                          BiConsumer<String, Tensor> sink) {
        FusedExperts fused = FusedExperts.parse(naming, key, value.dim());
        if (fused == null) {
            return false;
        }
        requireFusedShape(fused, key, value.sizes(), config);
        Tensor local = value.narrow(0, range.start(), range.count());
        for (String name : fused.targets(layout, config.gated())) {
            Tensor out = Tensor.allocate(options.allocationArena(), groupedDtype(options, value.dtype()),
                    layout.shape(name, range.count(), config));
            LayoutConversion.copy(fused.form(), Map.of(fused.sourceName(), local), 0, layout, Map.of(name, out),
                    0, range.count(), config, layout.projectionsIn(name, config.gated()));
            sink.accept(fused.targetKey(naming, name), out);
        }
        return true;
    }

    /** Refuses a fused expert tensor of another shape than {@code config}'s: its experts could not be cut out. */
    static void requireFusedShape(FusedExperts fused, String key, long[] shape, MoeConfig config) {
        String problem = fused.problem(key, shape, config);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
    }

    // ---------------------------------------------------------------------------------------------- shared rules
    // The rules below decide names and dtypes of what fromHf emits; HfToGroupedPlan applies the same ones to headers.

    /**
     * The dtype a tensor stored as {@code stored} is read as: FP8 with block scales is dequantized to
     * {@link FromHfOptions#dequantizedDtype()}, unless {@link FromHfOptions#keepFp8()} keeps it.
     */
    static DType readDtype(DType stored, boolean hasScales, FromHfOptions options) {
        return isDequantized(stored, hasScales, options) ? options.dequantizedDtype() : stored;
    }

    /** Whether a tensor stored as {@code stored} is dequantized when read: FP8 with block scales, not kept. */
    static boolean isDequantized(DType stored, boolean hasScales, FromHfOptions options) {
        return hasScales && stored.isFp8() && !options.keepFp8();
    }

    /** The dtype of a grouped tensor built from experts read as {@code read}: the options' output dtype, if any. */
    static DType groupedDtype(FromHfOptions options, DType read) {
        return options.outputDtype() != null ? options.outputDtype() : read;
    }

    /** Whether {@code key} is an expert LoRA tensor (per-expert or ParamWrapper), regrouped after everything else. */
    static boolean isLoraExpertKey(ExpertNaming naming, String key) {
        return key.contains("." + naming.segment() + ".") && (key.contains(".lora_A.") || key.contains(".lora_B."));
    }

    /** Refuses to keep FP8 experts as FP8 where their scales cannot be grouped ({@link Fp8GroupedScales#refusal}). */
    static void requireKeepableFp8(MoeConfig config, GroupedLayout layout, boolean hasScales) {
        String refusal = Fp8GroupedScales.refusal(config, layout);
        if (refusal != null && hasScales) {
            throw new IllegalArgumentException("cannot keep FP8 experts as FP8: " + refusal);
        }
    }

    /** See {@link MoeStateDictAdapter#concatenateExperts}. */
    Tensor concatenateExperts(Map<String, Map<String, Map<Integer, Tensor>>> expertsByLayer) {
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

    /** See {@link MoeStateDictAdapter#loadInto}. */
    Map<String, Tensor> loadInto(Map<String, Tensor> storage, Map<String, Tensor> hf, FromHfOptions options) {
        Map<String, Tensor> targets = adapter.writeThroughTargets(storage,
                ExpertRange.forMesh(options.mesh(), config.numExperts()));
        adapter.validateExpertAvailability(hf.keySet(), options.mesh());
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
        return adapter.fromHf(hf, options);
    }
}
