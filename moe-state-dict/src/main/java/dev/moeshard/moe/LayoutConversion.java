package dev.moeshard.moe;

import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.TensorOps;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.tensor.DType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * Grouped → grouped: one layer's experts moved from one {@link GroupedLayout} to another with one strided copy per
 * projection, from the source's projection view into the target's, so that every byte moves once and nothing passes
 * through the per-expert layout. A DeepEP → vLLM copy, say, is a tile transpose of [E, H, I] columns into [E, I, H]
 * rows; grouped → hf-v5 is two contiguous row blocks per expert.
 */
public final class LayoutConversion {
    private LayoutConversion() {}

    /**
     * Copies experts [{@code sourceStart}, +{@code count}) of the source layer into experts [{@code targetStart},
     * +{@code count}) of the target layer, for each of {@code projections}.
     *
     * @param source the source layer's tensors by key suffix of {@code from} (those that hold {@code projections})
     * @param target the target layer's tensors by key suffix of {@code to}, allocated in {@code to}'s shapes
     */
    public static void copy(GroupedLayout from, Map<String, Tensor> source, long sourceStart, GroupedLayout to,
                            Map<String, Tensor> target, long targetStart, long count, MoeConfig config,
                            List<Projection> projections) {
        List<Tensor> dsts = new ArrayList<>(projections.size());
        List<Tensor> srcs = new ArrayList<>(projections.size());
        long inter = config.intermediate();
        for (Projection p : projections) {
            Tensor src = source.get(from.tensorOf(p));
            Tensor dst = target.get(to.tensorOf(p));
            if (src == null || dst == null) {
                throw new IllegalArgumentException("no " + (src == null ? from.cliName() + " tensor " + from.tensorOf(p)
                        : to.cliName() + " tensor " + to.tensorOf(p)) + " for the " + p.name().toLowerCase(java.util.Locale.ROOT)
                        + " projection");
            }
            dsts.add(to.projection(dst, p, inter, config.gated()).narrow(0, targetStart, count));
            srcs.add(from.projection(src, p, inter, config.gated()).narrow(0, sourceStart, count));
        }
        TensorOps.copyAll(dsts, srcs);
    }

    /** Every projection of a model with {@code config}: gate (when gated), up, down. */
    public static List<Projection> projections(MoeConfig config) {
        return config.gated() ? List.of(Projection.GATE, Projection.UP, Projection.DOWN)
                : List.of(Projection.UP, Projection.DOWN);
    }

    /**
     * A grouped state dict in layout {@code from} holding all E experts, converted to layout {@code to} for the
     * experts of {@code range}: each target tensor is handed to {@code sink} as soon as the source tensors that feed
     * it have been seen; every other entry passes through as it is (expert LoRA is the same in every layout).
     *
     * @param dtype dtype of the target tensors (null: the source tensor's)
     * @throws IllegalArgumentException for a source tensor of the wrong shape, or a layer left incomplete
     */
    public static void regroup(Map<String, Tensor> grouped, GroupedLayout from, GroupedLayout to, ExpertNaming naming,
                               MoeConfig config, ExpertRange range, DType dtype, BiConsumer<String, Tensor> sink) {
        // layer path -> the source tensors seen so far, and the target tensors not yet emitted
        Map<String, Map<String, Tensor>> seen = new HashMap<>();
        Map<String, Set<String>> pending = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : grouped.entrySet()) {
            GroupedLayout.Key k = from.parse(naming, e.getKey());
            if (k == null) {
                sink.accept(e.getKey(), e.getValue());
                continue;
            }
            long[] want = from.shape(k.name(), config.numExperts(), config);
            if (!Arrays.equals(want, e.getValue().sizes())) {
                throw new IllegalArgumentException(e.getKey() + ": a " + from.cliName() + " grouped tensor of this model"
                        + " must have shape " + Arrays.toString(want) + ", got " + Arrays.toString(e.getValue().sizes()));
            }
            String layer = k.layerPath();
            Map<String, Tensor> sources = seen.computeIfAbsent(layer, x -> new HashMap<>());
            sources.put(k.name(), e.getValue());
            Set<String> open = pending.computeIfAbsent(layer, x -> new LinkedHashSet<>(to.tensorNames(config.gated())));
            for (var it = open.iterator(); it.hasNext(); ) {
                String name = it.next();
                List<Projection> held = to.projectionsIn(name, config.gated());
                if (!held.stream().allMatch(p -> sources.containsKey(from.tensorOf(p)))) {
                    continue;
                }
                Tensor first = sources.get(from.tensorOf(held.get(0)));
                Tensor out = Tensor.allocate(dtype != null ? dtype : first.dtype(), to.shape(name, range.count(), config));
                copy(from, sources, range.start(), to, Map.of(name, out), 0, range.count(), config, held);
                sink.accept(to.key(naming, k.prefix(), k.layer(), name), out);
                it.remove();
            }
            if (open.isEmpty()) {
                pending.remove(layer);
                seen.remove(layer);
            }
        }
        if (!pending.isEmpty()) {
            throw new IllegalArgumentException("grouped layers left incomplete: " + pending.keySet() + " lack the "
                    + from.cliName() + " tensors for " + pending.values() + " (a " + from.cliName() + " layer has "
                    + from.tensorNames(config.gated()) + ")");
        }
    }
}
