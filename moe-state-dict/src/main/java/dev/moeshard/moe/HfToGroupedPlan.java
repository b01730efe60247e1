package dev.moeshard.moe;

import dev.moeshard.moe.ExpertNaming.ExpertKey;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.moe.quant.Fp8GroupedScales;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The headers-only twin of {@link HfToGrouped}: what {@code fromHf} would emit for a state dict, worked out from each
 * tensor's name, dtype and shape, so that a file-to-file conversion can lay out and map its output before a byte
 * moves. Every name, shape and dtype comes from the rule the conversion itself applies ({@link GroupedLayout},
 * {@link ExpertGroupAssembler#groupedShape}, {@link FusedExperts}, {@link Fp8GroupedScales}, the LoRA formats'
 * {@code plan}); this class only decides where each output stands.
 *
 * <p>The order is the layout of the output files, input order throughout: a non-expert tensor where it stands; a
 * transformers-v5 fused tensor's layout tensors where it stands; a layer's grouped tensors (each followed, under
 * {@code keepFp8}, by its grouped scales) where the layer's first per-expert key stands; a kept FP8 weight's scales
 * right after it; the regrouped expert LoRA last. {@code fromHf} emits the same set in its own order, each grouped
 * tensor when its last expert has been read.
 */
final class HfToGroupedPlan {
    private final MoeStateDictAdapter adapter;
    private final MoeConfig config;
    private final ExpertNaming naming;
    private final GroupedLayout layout;

    HfToGroupedPlan(MoeStateDictAdapter adapter) {
        this.adapter = adapter;
        this.config = adapter.config();
        this.naming = adapter.naming();
        this.layout = adapter.layout();
    }

    /** See {@link MoeStateDictAdapter#planFromHf}. */
    List<TensorSpec> plan(Map<String, TensorSpec> hf, FromHfOptions options) {
        adapter.validateExpertAvailability(hf.keySet(), options.mesh());
        ExpertRange range = ExpertRange.forMesh(options.mesh(), config.numExperts());
        String suffix = Fp8BlockDequantizer.SCALE_SUFFIX;
        boolean keep = options.keepFp8();
        if (keep) {
            HfToGrouped.requireKeepableFp8(config, layout, hf.keySet().stream().anyMatch(k -> k.endsWith(suffix)));
        }
        List<TensorSpec> out = new ArrayList<>();
        Set<String> layers = new HashSet<>();
        Set<String> groupedScales = new HashSet<>();
        Map<String, TensorSpec> lora = new LinkedHashMap<>();
        for (Map.Entry<String, TensorSpec> e : hf.entrySet()) {
            String key = e.getKey();
            TensorSpec stored = new TensorSpec(key, e.getValue().dtype(), e.getValue().shape());
            if (key.endsWith(suffix)) {
                // Dropped with their weight dequantized; kept, an expert's go into grouped scales and the others
                // follow their weight, or stand where they are when it is absent.
                String weight = key.substring(0, key.length() - suffix.length());
                if (keep && naming.parsePerExpert(weight) == null && !hf.containsKey(weight)) {
                    out.add(stored);
                }
                continue;
            }
            ExpertKey expert = naming.parsePerExpert(key);
            if (expert == null) {
                boolean scaled = hf.containsKey(key + suffix);
                if (HfToGrouped.isDequantized(stored.dtype(), scaled, options)) {
                    Fp8BlockDequantizer.requireDequantizable(stored.dtype(), stored.shape(), hf.get(key + suffix).shape(),
                            key);
                }
                TensorSpec read = new TensorSpec(key, HfToGrouped.readDtype(stored.dtype(), scaled, options),
                        stored.shape());
                if (HfToGrouped.isLoraExpertKey(naming, key)) {
                    lora.put(key, read);
                } else {
                    FusedExperts fused = FusedExperts.parse(naming, key, read.shape().length);
                    if (fused != null) {
                        addFused(out, fused, read, range, options);
                    } else {
                        out.add(read);
                    }
                }
                if (keep && scaled) {
                    out.add(new TensorSpec(key + suffix, hf.get(key + suffix).dtype(), hf.get(key + suffix).shape()));
                }
                continue;
            }
            // A rank with no experts gets no grouped tensors: no expert of its (empty) range is ever read.
            if (range.count() > 0 && layers.add(expert.prefix() + "\n" + expert.layer())) {
                addLayer(out, hf, expert.prefix(), expert.layer(), range, options, groupedScales);
            }
        }
        if (keep) {
            addScalesOfLayersWithoutWeights(out, hf, range, groupedScales);
        }
        // Regrouped after everything else, for this rank's experts, as fromHf does.
        Map<String, TensorSpec> grouped = adapter.loraParamWrapper()
                .plan(adapter.loraPerExpert().plan(lora, range), naming.segment(), range);
        out.addAll(grouped.values());
        return out;
    }

    /** The layout tensors a v5 fused tensor feeds, this rank's experts of it. */
    private void addFused(List<TensorSpec> out, FusedExperts fused, TensorSpec read, ExpertRange range,
                          FromHfOptions options) {
        HfToGrouped.requireFusedShape(fused, read.name(), read.shape(), config);
        for (String name : fused.targets(layout, config.gated())) {
            out.add(new TensorSpec(fused.targetKey(naming, name), HfToGrouped.groupedDtype(options, read.dtype()),
                    layout.shape(name, range.count(), config)));
        }
    }

    /**
     * One layer's grouped tensors for the experts of {@code range}, as {@link ExpertGroupAssembler} builds them: dtype
     * and sizes from the first expert's first projection of each; under {@code keepFp8} each followed by the grouped
     * scales of its projections, when every expert of the range has them (as {@code Fp8ScaleGrouper} emits them).
     */
    private void addLayer(List<TensorSpec> out, Map<String, TensorSpec> hf, String prefix, int layer,
                          ExpertRange range, FromHfOptions options, Set<String> groupedScales) {
        String suffix = Fp8BlockDequantizer.SCALE_SUFFIX;
        for (String name : layout.tensorNames(config.gated())) {
            List<Projection> held = layout.projectionsIn(name, config.gated());
            String firstKey = naming.perExpertKey(prefix, layer, range.start(), held.get(0));
            TensorSpec first = hf.get(firstKey);
            if (first == null) { // validateExpertAvailability checks groups registered for write-through otherwise
                throw new IllegalArgumentException(firstKey + ": missing; grouped tensor "
                        + layout.key(naming, prefix, layer, name) + " needs it");
            }
            ExpertGroupAssembler.requireMatrix(firstKey, first.shape());
            requireExperts(hf, prefix, layer, name, held, range, first, options);
            DType read = HfToGrouped.readDtype(first.dtype(), hf.containsKey(firstKey + suffix), options);
            out.add(new TensorSpec(layout.key(naming, prefix, layer, name), HfToGrouped.groupedDtype(options, read),
                    ExpertGroupAssembler.groupedShape(layout, name, range.count(), held.get(0), first.shape(),
                            config.gated())));
            if (options.keepFp8()) {
                for (Projection p : held) {
                    addGroupedScales(out, hf, prefix, layer, p, range, groupedScales);
                }
            }
        }
    }

    /**
     * Checks every expert of {@code range} that grouped tensor {@code name} stacks as the conversion checks it when
     * it builds the tensor: a matrix of the first expert's H and I, and dequantizable when it is dequantized.
     */
    private void requireExperts(Map<String, TensorSpec> hf, String prefix, int layer, String name,
                                List<Projection> held, ExpertRange range, TensorSpec first, FromHfOptions options) {
        String suffix = Fp8BlockDequantizer.SCALE_SUFFIX;
        long[] hi = ExpertGroupAssembler.hiddenAndIntermediate(held.get(0), first.shape());
        String groupedKey = layout.key(naming, prefix, layer, name);
        for (Projection p : held) {
            for (int expert : range.ids()) {
                String key = naming.perExpertKey(prefix, layer, expert, p);
                TensorSpec s = hf.get(key);
                if (s == null) {
                    throw new IllegalArgumentException(key + ": missing; grouped tensor " + groupedKey + " needs it");
                }
                ExpertGroupAssembler.requireMatrix(key, s.shape());
                ExpertGroupAssembler.requireShape(groupedKey, expert, p, s.shape(), hi[0], hi[1]);
                if (HfToGrouped.isDequantized(s.dtype(), hf.containsKey(key + suffix), options)) {
                    Fp8BlockDequantizer.requireDequantizable(s.dtype(), s.shape(), hf.get(key + suffix).shape(), key);
                }
            }
        }
    }

    /** The grouped scales holding {@code projection}'s, once, when every expert of {@code range} has its scales. */
    private void addGroupedScales(List<TensorSpec> out, Map<String, TensorSpec> hf, String prefix, int layer,
                                  Projection projection, ExpertRange range, Set<String> groupedScales) {
        String key = Fp8GroupedScales.keyOf(naming, prefix, layer, projection);
        GroupedProjection group = Fp8GroupedScales.groupOf(projection);
        if (groupedScales.contains(key)) {
            return;
        }
        for (Projection part : Fp8GroupedScales.parts(group, config)) {
            for (int expert : range.ids()) {
                if (!hf.containsKey(naming.perExpertKey(prefix, layer, expert, part) + Fp8BlockDequantizer.SCALE_SUFFIX)) {
                    return;
                }
            }
        }
        groupedScales.add(key);
        out.add(new TensorSpec(key, DType.F32, Fp8GroupedScales.shape(group, range.count(), config)));
    }

    /** Expert scales of layers with no expert weight at all: grouped all the same, after everything else. */
    private void addScalesOfLayersWithoutWeights(List<TensorSpec> out, Map<String, TensorSpec> hf, ExpertRange range,
                                                 Set<String> groupedScales) {
        String suffix = Fp8BlockDequantizer.SCALE_SUFFIX;
        for (String key : hf.keySet()) {
            ExpertKey k = key.endsWith(suffix) ? naming.parsePerExpert(key.substring(0, key.length() - suffix.length()))
                    : null;
            if (k != null && range.contains(k.expert()) && (k.projection() != Projection.GATE || config.gated())) {
                addGroupedScales(out, hf, k.prefix(), k.layer(), k.projection(), range, groupedScales);
            }
        }
    }
}
