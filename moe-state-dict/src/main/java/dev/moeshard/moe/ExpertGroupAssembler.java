package dev.moeshard.moe;

import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Device;
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
import java.util.function.Supplier;

/**
 * Collects one rank's per-expert HF tensors by grouped key and builds each grouped tensor the moment its last
 * expert arrives, so that at most the inputs of the groups still open are held. The grouped tensor is written
 * straight from the inputs through the {@link GroupedLayout}'s views of it: no per-expert intermediate.
 */
final class ExpertGroupAssembler {
    private final GroupedLayout layout;
    private final boolean gated;
    private final ExpertRange range;
    private final DType outputDtype;
    private final DType dequantizedDtype;
    private final Device device;
    /** The arena each grouped tensor is allocated in ({@link FromHfOptions#allocationArena}). */
    private final Supplier<Arena> arenas;
    private final Map<String, Group> open = new LinkedHashMap<>();

    /** One grouped tensor being collected: its key suffix and, per expert, the projections seen so far. */
    private record Group(String name, TreeMap<Integer, Map<Projection, Part>> experts) {}

    /** One expert's projection as read: its HF key, its tensor, and its block scales if it is block-quantized. */
    private record Part(String hfKey, Tensor value, Tensor scale) {}

    ExpertGroupAssembler(GroupedLayout layout, boolean gated, ExpertRange range, DType outputDtype,
                         DType dequantizedDtype, Device device, Supplier<Arena> arenas) {
        this.layout = layout;
        this.gated = gated;
        this.range = range;
        this.outputDtype = outputDtype;
        this.dequantizedDtype = dequantizedDtype;
        this.device = device;
        this.arenas = arenas;
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
        if (value.dim() != 2) {
            throw new IllegalArgumentException(hfKey + ": an expert projection must be 2-d, got shape "
                    + Arrays.toString(value.sizes()));
        }
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
        boolean down = needed.get(0) == Projection.DOWN;
        long hidden = down ? first.value().size(0) : first.value().size(1);
        long inter = down ? first.value().size(1) : first.value().size(0);
        DType read = first.scale() != null ? dequantizedDtype : first.value().dtype();
        Tensor out = Tensor.allocate(arenas.get(), device, outputDtype != null ? outputDtype : read,
                layout.shape(group.name(), group.experts().size(), hidden, inter, gated));
        try (Arena dequantized = Arena.ofShared()) {
            List<Tensor> dsts = new ArrayList<>();
            List<Tensor> srcs = new ArrayList<>();
            for (Projection p : needed) {
                Tensor view = layout.projection(out, p, inter, gated);
                int i = 0;
                for (Map.Entry<Integer, Map<Projection, Part>> e : group.experts().entrySet()) {
                    Part part = e.getValue().get(p);
                    requireShape(key, e.getKey(), p, part.value(), p == Projection.DOWN ? hidden : inter,
                            p == Projection.DOWN ? inter : hidden);
                    dsts.add(view.select(0, i++));
                    srcs.add(part.scale() == null ? part.value() : dequantize(part, dequantized));
                }
            }
            TensorOps.copyAll(dsts, srcs);
        }
        return out;
    }

    private Tensor dequantize(Part part, Arena arena) {
        Tensor result = Tensor.allocate(arena, dequantizedDtype, part.value().sizes());
        Fp8BlockDequantizer.dequantizeInto(part.value(), part.scale(), result, part.hfKey());
        return result;
    }

    private static void requireShape(String key, int expert, Projection p, Tensor t, long rows, long cols) {
        if (t.size(0) != rows || t.size(1) != cols) {
            throw new IllegalArgumentException(key + ": expert " + expert + " " + p.name().toLowerCase()
                    + " projection has shape " + Arrays.toString(t.sizes()) + ", the other experts of the group have ["
                    + rows + ", " + cols + "]");
        }
    }
}
