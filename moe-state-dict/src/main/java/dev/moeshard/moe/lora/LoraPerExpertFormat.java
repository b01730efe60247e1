package dev.moeshard.moe.lora;

import dev.moeshard.moe.ExpertIds;
import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.parallel.ExpertSplit;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.TensorOps;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Grouped expert LoRA tensors ↔ the per-expert keys HF PEFT writes for v4 models
 * ({@code {p}layers.{L}.{segment}.{e}.gate_proj.lora_A.weight}, in nn.Linear orientation):
 * <pre>
 *   gate / up lora_A [r, H] = A[e]ᵀ              from lora_gate_and_up_A [E, H, r]
 *   gate lora_B      [I, r] = B[e][:, :I]ᵀ        from lora_gate_and_up_B [E, r, 2I]
 *   up lora_B        [I, r] = B[e][:, I:]ᵀ        (non-gated: B[e]ᵀ from [E, r, I])
 *   down lora_A      [r, I] = downA[e]ᵀ           from lora_down_A [E, I, r]
 *   down lora_B      [H, r] = downB[e]ᵀ           from lora_down_B [E, r, H]
 * </pre>
 * The prefix before {@code layers.} ({@code base_model.model.model.}) is kept.
 */
public final class LoraPerExpertFormat {
    private final MoeConfig config;
    private final ExpertNaming naming;

    public LoraPerExpertFormat(MoeConfig config, ExpertNaming naming) {
        this.config = config;
        this.naming = naming;
    }

    /** The per-expert PEFT tensors (contiguous copies) of one grouped LoRA tensor already split into experts. */
    public List<Map.Entry<String, Tensor>> toHf(String prefix, int layer, LoraExpertSuffix suffix, ExpertSplit split) {
        List<Map.Entry<String, Tensor>> out = new ArrayList<>();
        long inter = config.intermediate();
        for (int i = 0; i < split.size(); i++) {
            Tensor w = split.experts().get(i);
            String base = prefix + "layers." + layer + "." + naming.segment() + "." + split.expertIds().get(i) + ".";
            switch (suffix) {
                case GATE_AND_UP_A -> {
                    Tensor a = w.t().contiguousCopy();
                    if (config.gated()) {
                        out.add(Map.entry(base + naming.gate() + ".lora_A.weight", a));
                        out.add(Map.entry(base + naming.up() + ".lora_A.weight", a.contiguousCopy()));
                    } else {
                        out.add(Map.entry(base + naming.up() + ".lora_A.weight", a));
                    }
                }
                case GATE_AND_UP_B -> {
                    if (config.gated()) {
                        out.add(Map.entry(base + naming.gate() + ".lora_B.weight", w.narrow(1, 0, inter).t().contiguousCopy()));
                        out.add(Map.entry(base + naming.up() + ".lora_B.weight",
                                w.narrow(1, inter, w.size(1) - inter).t().contiguousCopy()));
                    } else {
                        out.add(Map.entry(base + naming.up() + ".lora_B.weight", w.t().contiguousCopy()));
                    }
                }
                case DOWN_A -> out.add(Map.entry(base + naming.down() + ".lora_A.weight", w.t().contiguousCopy()));
                case DOWN_B -> out.add(Map.entry(base + naming.down() + ".lora_B.weight", w.t().contiguousCopy()));
            }
        }
        return out;
    }

    /**
     * {@code stateDict} with every complete group of per-expert PEFT keys replaced by its grouped tensor; groups
     * that miss an expert (or, for gate/up B, whose gate and up halves are not both complete) pass through as they
     * are. Kept keys come first in their order, grouped tensors after them.
     */
    public Map<String, Tensor> toGrouped(Map<String, Tensor> stateDict) {
        Pattern pattern = Pattern.compile("(?<prefix>.*)layers\\.(?<layer>\\d+)\\." + Pattern.quote(naming.segment())
                + "\\.(?<expert>\\d+)\\.(?<proj>" + Pattern.quote(naming.gate()) + "|" + Pattern.quote(naming.up()) + "|"
                + Pattern.quote(naming.down()) + ")\\.(?<lora>lora_[AB])\\.weight");
        Map<GroupId, TreeMap<Integer, Tensor>> groups = new LinkedHashMap<>();
        Map<String, Tensor> result = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : stateDict.entrySet()) {
            Matcher m = pattern.matcher(e.getKey());
            if (!m.matches()) {
                result.put(e.getKey(), e.getValue());
                continue;
            }
            String proj = m.group("proj");
            Projection p = proj.equals(naming.gate()) ? Projection.GATE : proj.equals(naming.up()) ? Projection.UP : Projection.DOWN;
            GroupId id = new GroupId(m.group("prefix"), ExpertIds.layer(m.group("layer"), e.getKey()), p, m.group("lora").equals("lora_A"));
            groups.computeIfAbsent(id, k -> new TreeMap<>()).put(ExpertIds.expert(m.group("expert"), e.getKey()), e.getValue());
        }
        int n = config.numExperts();
        for (Map.Entry<GroupId, TreeMap<Integer, Tensor>> g : groups.entrySet()) {
            GroupId id = g.getKey();
            TreeMap<Integer, Tensor> experts = g.getValue();
            String base = id.prefix + "layers." + id.layer + "." + naming.segment() + ".";
            boolean complete = experts.size() == n;
            if (id.projection == Projection.DOWN) {
                if (complete) {
                    String suffix = id.isA ? LoraExpertSuffix.DOWN_A.suffix() : LoraExpertSuffix.DOWN_B.suffix();
                    result.put(base + suffix, stackTransposed(experts));
                } else {
                    passThrough(result, id, experts);
                }
                continue;
            }
            if (id.isA) {
                // Gated: gate's A and up's A are the same tensor; gate's copy is kept, up's is the duplicate.
                if (config.gated() && id.projection == Projection.UP) {
                    GroupId gate = new GroupId(id.prefix, id.layer, Projection.GATE, true);
                    if (!(complete && groups.containsKey(gate) && groups.get(gate).size() == n)) {
                        passThrough(result, id, experts);
                    }
                    continue;
                }
                if (complete) {
                    result.put(base + LoraExpertSuffix.GATE_AND_UP_A.suffix(), stackTransposed(experts));
                } else {
                    passThrough(result, id, experts);
                }
                continue;
            }
            if (!config.gated()) {
                if (complete) {
                    result.put(base + LoraExpertSuffix.GATE_AND_UP_B.suffix(), stackTransposed(experts));
                } else {
                    passThrough(result, id, experts);
                }
                continue;
            }
            GroupId gateId = new GroupId(id.prefix, id.layer, Projection.GATE, false);
            GroupId upId = new GroupId(id.prefix, id.layer, Projection.UP, false);
            TreeMap<Integer, Tensor> gate = groups.get(gateId);
            TreeMap<Integer, Tensor> up = groups.get(upId);
            boolean both = gate != null && up != null && gate.size() == n && up.size() == n;
            if (!both) {
                passThrough(result, id, experts);
            } else if (id.projection == Projection.GATE) {
                result.put(base + LoraExpertSuffix.GATE_AND_UP_B.suffix(), gateUpB(gate, up));
            }
        }
        return result;
    }

    private void passThrough(Map<String, Tensor> result, GroupId id, TreeMap<Integer, Tensor> experts) {
        for (Map.Entry<Integer, Tensor> e : experts.entrySet()) {
            result.put(id.prefix + "layers." + id.layer + "." + naming.segment() + "." + e.getKey() + "."
                    + naming.name(id.projection) + "." + (id.isA ? "lora_A" : "lora_B") + ".weight", e.getValue());
        }
    }

    private static Tensor stackTransposed(TreeMap<Integer, Tensor> experts) {
        List<Tensor> ts = new ArrayList<>(experts.size());
        for (Tensor t : experts.values()) {
            ts.add(t.t());
        }
        return TensorOps.stack(ts, 0);
    }

    // [E, r, 2I]: gate Bᵀ into columns [0, I), up Bᵀ into [I, 2I), written straight into one allocation.
    private static Tensor gateUpB(TreeMap<Integer, Tensor> gate, TreeMap<Integer, Tensor> up) {
        Tensor g0 = gate.firstEntry().getValue();
        long inter = g0.size(0);
        long rank = g0.size(1);
        Tensor out = Tensor.allocate(g0.dtype(), gate.size(), rank, 2 * inter);
        int i = 0;
        for (Integer id : gate.keySet()) {
            out.select(0, i).narrow(1, 0, inter).copyFrom(gate.get(id).t());
            out.select(0, i).narrow(1, inter, inter).copyFrom(up.get(id).t());
            i++;
        }
        return out;
    }

    private record GroupId(String prefix, int layer, Projection projection, boolean isA) {}
}
