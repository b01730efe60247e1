package dev.moeshard.moe;

import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.TensorOps;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Collects one rank's per-expert HF tensors by grouped key and builds each grouped tensor the moment its last
 * expert arrives, so that at most the inputs of the groups still open are held. The grouped tensor is written
 * straight from the inputs through the {@link GroupedLayout}'s views of it: no per-expert intermediate.
 */
final class ExpertGroupAssembler {
    private final GroupedLayout layout;
    private final boolean gated;
    private final ExpertRange range;
    /** The output dtype, the dequantized dtype, the device and the arena the grouped tensors are built with. */
    private final FromHfOptions options;
    private final Map<String, Group> open = new LinkedHashMap<>();

    /** One grouped tensor being collected: its key suffix and, per expert, the projections seen so far. */
    private record Group(String name, TreeMap<Integer, Map<Projection, Part>> experts) {}

    /** One expert's projection as read: its HF key, its tensor, and its block scales if it is block-quantized. */
    private record Part(String hfKey, Tensor value, Tensor scale) {}

    ExpertGroupAssembler(GroupedLayout layout, boolean gated, ExpertRange range, FromHfOptions options) {
        this.layout = layout;
        this.gated = gated;
        this.range = range;
        this.options = options;
    }

    /**
     * Adds one expert's projection to grouped tensor {@code name} (a key suffix of the layout) stored under
     * {@code groupedKey}; returns the grouped tensor when this completes it, else null. A gate projection of a
     * non-gated model is ignored, as the reference does. With {@code scale}, {@code value} is FP8 block-quantized and
     * is dequantized (to the dequantized dtype) when its group is built.
     */
    Tensor add(String groupedKey, String name, int expert, Projection projection, String hfKey, Tensor value,
               Tensor scale) {
        if (projection == Projection.GATE && !gated) {
            return null;
        }
        requireMatrix(hfKey, value.sizes());
        Group group = open.computeIfAbsent(groupedKey, k -> new Group(name, new TreeMap<>()));
        group.experts().computeIfAbsent(expert, k -> new EnumMap<>(Projection.class))
                .put(projection, new Part(hfKey, value, scale));
        List<Projection> needed = layout.projectionsIn(name, gated);
        if (group.experts().size() != range.count()
                || !group.experts().values().stream().allMatch(parts -> parts.keySet().containsAll(needed))) {
            return null;
        }
        open.remove(groupedKey);
        return build(groupedKey, group, needed);
    }

    /** Refuses an expert projection that is not a matrix: a grouped tensor stacks [I, H] or [H, I] ones. */
    static void requireMatrix(String hfKey, long[] shape) {
        if (shape.length != 2) {
            throw new IllegalArgumentException(hfKey + ": an expert projection must be 2-d, got shape "
                    + Arrays.toString(shape));
        }
    }

    /**
     * The shape of grouped tensor {@code name} (a key suffix of {@code layout}) of {@code experts} experts, whose
     * first projection ({@code layout.projectionsIn(name, gated).get(0)}) has shape {@code firstShape} per expert:
     * H and I are read off that projection, [I, H] for gate and up, [H, I] for down.
     */
    static long[] groupedShape(GroupedLayout layout, String name, long experts, Projection first, long[] firstShape,
                               boolean gated) {
        long[] hi = hiddenAndIntermediate(first, firstShape);
        return layout.shape(name, experts, hi[0], hi[1], gated);
    }

    /** H and I read off one expert's {@code projection} of {@code shape}: [I, H] for gate and up, [H, I] for down. */
    static long[] hiddenAndIntermediate(Projection projection, long[] shape) {
        return projection == Projection.DOWN ? new long[] {shape[0], shape[1]} : new long[] {shape[1], shape[0]};
    }

    /** Grouped keys whose experts did not all arrive, with the experts that did. */
    Map<String, List<Integer>> incomplete() {
        Map<String, List<Integer>> out = new LinkedHashMap<>();
        open.forEach((k, v) -> out.put(k, new ArrayList<>(v.experts().keySet())));
        return out;
    }

    // Each expert's HF tensor copied into its slot of the layout's projection view: for DeepEP a transposed copy into
    // columns of [E_local, H, 2I], for the stacked layouts a plain one into rows. Block-quantized experts are
    // dequantized first into memory freed as soon as the group is built: left to the collector, a group's worth of
    // it per layer would pile up until it ran.
    private Tensor build(String key, Group group, List<Projection> needed) {
        Part first = group.experts().firstEntry().getValue().get(needed.get(0));
        long[] hi = hiddenAndIntermediate(needed.get(0), first.value().sizes());
        long hidden = hi[0];
        long inter = hi[1];
        DType read = HfToGrouped.readDtype(first.value().dtype(), first.scale() != null, options);
        Tensor out = Tensor.allocate(options.allocationArena(), options.device(), HfToGrouped.groupedDtype(options, read),
                groupedShape(layout, group.name(), group.experts().size(), needed.get(0), first.value().sizes(), gated));
        try (Arena dequantized = Arena.ofShared()) {
            List<Tensor> dsts = new ArrayList<>();
            List<Tensor> srcs = new ArrayList<>();
            for (Projection p : needed) {
                Tensor view = layout.projection(out, p, inter, gated);
                int i = 0;
                for (Map.Entry<Integer, Map<Projection, Part>> e : group.experts().entrySet()) {
                    Part part = e.getValue().get(p);
                    requireShape(key, e.getKey(), p, part.value().sizes(), hidden, inter);
                    dsts.add(view.select(0, i++));
                    srcs.add(part.scale() == null ? part.value() : dequantize(part, dequantized));
                }
            }
            TensorOps.copyAll(dsts, srcs);
        }
        return out;
    }

    private Tensor dequantize(Part part, Arena arena) {
        Tensor result = Tensor.allocate(arena, options.dequantizedDtype(), part.value().sizes());
        Fp8BlockDequantizer.dequantizeInto(part.value(), part.scale(), result, part.hfKey());
        return result;
    }

    /**
     * Refuses expert {@code expert}'s projection {@code p} of grouped tensor {@code key} unless it is [I, H] (gate,
     * up) or [H, I] (down) for the group's H and I.
     */
    static void requireShape(String key, int expert, Projection p, long[] shape, long hidden, long inter) {
        long rows = p == Projection.DOWN ? hidden : inter;
        long cols = p == Projection.DOWN ? inter : hidden;
        if (shape[0] != rows || shape[1] != cols) {
            throw new IllegalArgumentException(key + ": expert " + expert + " " + p.name().toLowerCase()
                    + " projection has shape " + Arrays.toString(shape) + ", the other experts of the group have ["
                    + rows + ", " + cols + "]");
        }
    }
}
