package dev.moeshard.moe;

import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.TensorOps;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Collects one rank's per-expert HF tensors by grouped key and builds each grouped tensor the moment its last
 * expert arrives, so that at most the inputs of the groups still open are held. The grouped tensor is written
 * straight from the inputs through transposed views of it: no per-expert intermediate.
 */
final class ExpertGroupAssembler {
    private final boolean gated;
    private final ExpertRange range;
    private final DType outputDtype;
    private final Device device;
    private final Map<String, TreeMap<Integer, Tensor[]>> open = new LinkedHashMap<>();

    ExpertGroupAssembler(boolean gated, ExpertRange range, DType outputDtype, Device device) {
        this.gated = gated;
        this.range = range;
        this.outputDtype = outputDtype;
        this.device = device;
    }

    /**
     * Adds one expert's projection; returns the grouped tensor when this completes {@code groupedKey}, else null.
     * A gate projection of a non-gated model is ignored, as the reference does.
     */
    Tensor add(String groupedKey, int expert, Projection projection, String hfKey, Tensor value) {
        if (projection == Projection.GATE && !gated) {
            return null;
        }
        if (value.dim() != 2) {
            throw new IllegalArgumentException(hfKey + ": an expert projection must be 2-d, got shape "
                    + Arrays.toString(value.sizes()));
        }
        TreeMap<Integer, Tensor[]> experts = open.computeIfAbsent(groupedKey, k -> new TreeMap<>());
        Tensor[] parts = experts.computeIfAbsent(expert, k -> new Tensor[2]);
        parts[projection == Projection.UP ? 1 : 0] = value;
        if (!isComplete(projection, experts)) {
            return null;
        }
        open.remove(groupedKey);
        return projection == Projection.DOWN ? buildDown(groupedKey, experts) : buildGateAndUp(groupedKey, experts);
    }

    /** Grouped keys whose experts did not all arrive, with the experts that did. */
    Map<String, List<Integer>> incomplete() {
        Map<String, List<Integer>> out = new LinkedHashMap<>();
        open.forEach((k, v) -> out.put(k, new ArrayList<>(v.keySet())));
        return out;
    }

    private boolean isComplete(Projection projection, TreeMap<Integer, Tensor[]> experts) {
        if (experts.size() != range.count()) {
            return false;
        }
        if (projection == Projection.DOWN) {
            return true;
        }
        for (Tensor[] parts : experts.values()) {
            if (parts[1] == null || (gated && parts[0] == null)) {
                return false;
            }
        }
        return true;
    }

    // [E_local, H, 2I]: gate_eᵀ into columns [0, I), up_eᵀ into [I, 2I); non-gated [E_local, H, I] = up_eᵀ.
    private Tensor buildGateAndUp(String key, TreeMap<Integer, Tensor[]> experts) {
        Tensor first = experts.firstEntry().getValue()[1];
        long inter = first.size(0);
        long hidden = first.size(1);
        Tensor out = Tensor.allocate(device, dtypeOf(first), experts.size(), hidden, gated ? 2 * inter : inter);
        List<Tensor> dsts = new ArrayList<>();
        List<Tensor> srcs = new ArrayList<>();
        int i = 0;
        for (Map.Entry<Integer, Tensor[]> e : experts.entrySet()) {
            Tensor[] parts = e.getValue();
            Tensor slot = out.select(0, i++);
            if (gated) {
                requireShape(key, e.getKey(), "gate", parts[0], inter, hidden);
                requireShape(key, e.getKey(), "up", parts[1], inter, hidden);
                dsts.add(slot.narrow(1, 0, inter));
                srcs.add(parts[0].t());
                dsts.add(slot.narrow(1, inter, inter));
                srcs.add(parts[1].t());
            } else {
                requireShape(key, e.getKey(), "up", parts[1], inter, hidden);
                dsts.add(slot);
                srcs.add(parts[1].t());
            }
        }
        TensorOps.copyAll(dsts, srcs);
        return out;
    }

    // [E_local, I, H] = down_eᵀ.
    private Tensor buildDown(String key, TreeMap<Integer, Tensor[]> experts) {
        Tensor first = experts.firstEntry().getValue()[0];
        long hidden = first.size(0);
        long inter = first.size(1);
        Tensor out = Tensor.allocate(device, dtypeOf(first), experts.size(), inter, hidden);
        List<Tensor> dsts = new ArrayList<>();
        List<Tensor> srcs = new ArrayList<>();
        int i = 0;
        for (Map.Entry<Integer, Tensor[]> e : experts.entrySet()) {
            requireShape(key, e.getKey(), "down", e.getValue()[0], hidden, inter);
            dsts.add(out.select(0, i++));
            srcs.add(e.getValue()[0].t());
        }
        TensorOps.copyAll(dsts, srcs);
        return out;
    }

    private DType dtypeOf(Tensor first) {
        return outputDtype != null ? outputDtype : first.dtype();
    }

    private static void requireShape(String key, int expert, String what, Tensor t, long rows, long cols) {
        if (t.size(0) != rows || t.size(1) != cols) {
            throw new IllegalArgumentException(key + ": expert " + expert + " " + what + " projection has shape "
                    + Arrays.toString(t.sizes()) + ", the other experts of the group have [" + rows + ", " + cols + "]");
        }
    }
}
