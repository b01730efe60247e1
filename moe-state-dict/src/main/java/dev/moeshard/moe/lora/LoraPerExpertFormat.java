package dev.moeshard.moe.lora;

import dev.moeshard.moe.ExpertIds;
import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.parallel.ExpertSplit;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.TensorOps;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
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
 * The prefix before {@code layers.} ({@code base_model.model.model.}) is kept. Under expert parallelism the grouped
 * tensors hold the experts of one rank's {@link ExpertRange} only, [E_local, ...], as the grouped weights do.
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
     * {@code stateDict} with every complete group of per-expert PEFT keys replaced by its grouped tensor of the experts
     * of {@code range}, [range.count(), ...], in ascending expert id. A group is complete when it has every expert of
     * {@code range} and none beyond the model's; its keys of experts outside {@code range} are other ranks' and are
     * dropped, and an empty range makes no grouped tensor at all. Groups that miss an expert of the range (or, for
     * gate/up B, whose gate and up halves are not both complete) pass through as they are. Kept keys come first in
     * their order, grouped tensors after them.
     */
    public Map<String, Tensor> toGrouped(Map<String, Tensor> stateDict, ExpertRange range) {
        Map<String, Tensor> result = new LinkedHashMap<>();
        for (Output o : outputs(stateDict.keySet(), range)) {
            Tensor first = stateDict.get(o.inputs().get(0));
            result.put(o.key(), switch (o.kind()) {
                case KEPT -> first;
                case STACKED -> stackTransposed(o.inputs().stream().map(stateDict::get).toList());
                case GATE_UP_B -> gateUpB(o.inputs().stream().map(stateDict::get).toList());
            });
        }
        return result;
    }

    /**
     * What {@link #toGrouped} makes of tensors of these headers for the experts of {@code range}, from the headers
     * alone: the same keys in the same order, each with the dtype and shape it comes out with.
     */
    public Map<String, TensorSpec> plan(Map<String, TensorSpec> stateDict, ExpertRange range) {
        Map<String, TensorSpec> result = new LinkedHashMap<>();
        for (Output o : outputs(stateDict.keySet(), range)) {
            TensorSpec first = stateDict.get(o.inputs().get(0));
            for (String input : o.inputs()) {
                TensorSpec s = stateDict.get(input);
                // As the conversion refuses them: stacks need one shape and dtype, gate beside up one shape.
                if (!Arrays.equals(s.shape(), first.shape()) || (o.kind() == Kind.STACKED && s.dtype() != first.dtype())) {
                    throw new IllegalArgumentException(input + ": " + s.dtype() + Arrays.toString(s.shape()) + ", but "
                            + o.inputs().get(0) + " of the same grouped LoRA tensor " + o.key() + " is "
                            + first.dtype() + Arrays.toString(first.shape()));
                }
            }
            result.put(o.key(), new TensorSpec(o.key(), first.dtype(), switch (o.kind()) {
                case KEPT -> first.shape();
                case STACKED -> stackedShape(o.inputs().size(), first.shape());
                case GATE_UP_B -> gateUpBShape(o.inputs().size() / 2, first.shape());
            }));
        }
        return result;
    }

    /** How an entry of {@link #toGrouped}'s result is made of its inputs. */
    private enum Kind {
        /** the one input, as it is */
        KEPT,
        /** the inputs' transposes, stacked in expert order */
        STACKED,
        /** gate's Bᵀ beside up's Bᵀ per expert: the inputs are gate's, then up's, in expert order */
        GATE_UP_B
    }

    /** One entry of {@link #toGrouped}'s result before any data moves: its key and the input keys it is made of. */
    private record Output(String key, Kind kind, List<String> inputs) {}

    /**
     * The entries {@link #toGrouped} makes of a state dict with {@code keys} for the experts of {@code range}, in its
     * order: the one grouping rule.
     */
    private List<Output> outputs(Collection<String> keys, ExpertRange range) {
        Pattern pattern = Pattern.compile("(?<prefix>.*)layers\\.(?<layer>\\d+)\\." + Pattern.quote(naming.segment())
                + "\\.(?<expert>\\d+)\\.(?<proj>" + Pattern.quote(naming.gate()) + "|" + Pattern.quote(naming.up()) + "|"
                + Pattern.quote(naming.down()) + ")\\.(?<lora>lora_[AB])\\.weight");
        Map<GroupId, TreeMap<Integer, String>> groups = new LinkedHashMap<>();
        List<Output> result = new ArrayList<>();
        for (String key : keys) {
            Matcher m = pattern.matcher(key);
            if (!m.matches()) {
                result.add(new Output(key, Kind.KEPT, List.of(key)));
                continue;
            }
            String proj = m.group("proj");
            Projection p = proj.equals(naming.gate()) ? Projection.GATE : proj.equals(naming.up()) ? Projection.UP : Projection.DOWN;
            GroupId id = new GroupId(m.group("prefix"), ExpertIds.layer(m.group("layer"), key), p, m.group("lora").equals("lora_A"));
            groups.computeIfAbsent(id, k -> new TreeMap<>()).put(ExpertIds.expert(m.group("expert"), key), key);
        }
        for (Map.Entry<GroupId, TreeMap<Integer, String>> g : groups.entrySet()) {
            GroupId id = g.getKey();
            TreeMap<Integer, String> experts = g.getValue();
            String base = id.prefix + "layers." + id.layer + "." + naming.segment() + ".";
            List<String> inputs = inRange(experts, range);
            boolean complete = isComplete(experts, range);
            if (id.projection == Projection.DOWN) {
                if (complete) {
                    String suffix = id.isA ? LoraExpertSuffix.DOWN_A.suffix() : LoraExpertSuffix.DOWN_B.suffix();
                    addGrouped(result, base + suffix, Kind.STACKED, inputs);
                } else {
                    passThrough(result, id, experts);
                }
                continue;
            }
            if (id.isA) {
                // Gated: gate's A and up's A are the same tensor; gate's copy is kept, up's is the duplicate.
                if (config.gated() && id.projection == Projection.UP) {
                    GroupId gate = new GroupId(id.prefix, id.layer, Projection.GATE, true);
                    if (!(complete && groups.containsKey(gate) && isComplete(groups.get(gate), range))) {
                        passThrough(result, id, experts);
                    }
                    continue;
                }
                if (complete) {
                    addGrouped(result, base + LoraExpertSuffix.GATE_AND_UP_A.suffix(), Kind.STACKED, inputs);
                } else {
                    passThrough(result, id, experts);
                }
                continue;
            }
            if (!config.gated()) {
                if (complete) {
                    addGrouped(result, base + LoraExpertSuffix.GATE_AND_UP_B.suffix(), Kind.STACKED, inputs);
                } else {
                    passThrough(result, id, experts);
                }
                continue;
            }
            GroupId gateId = new GroupId(id.prefix, id.layer, Projection.GATE, false);
            GroupId upId = new GroupId(id.prefix, id.layer, Projection.UP, false);
            TreeMap<Integer, String> gate = groups.get(gateId);
            TreeMap<Integer, String> up = groups.get(upId);
            boolean both = gate != null && up != null && isComplete(gate, range) && isComplete(up, range);
            if (!both) {
                passThrough(result, id, experts);
            } else if (id.projection == Projection.GATE) {
                List<String> gateThenUp = new ArrayList<>(inRange(gate, range));
                gateThenUp.addAll(inRange(up, range));
                addGrouped(result, base + LoraExpertSuffix.GATE_AND_UP_B.suffix(), Kind.GATE_UP_B, gateThenUp);
            }
        }
        return result;
    }

    /** Whether a group holds every expert of {@code range}, and no id beyond the model's experts. */
    private boolean isComplete(TreeMap<Integer, String> experts, ExpertRange range) {
        return experts.lastKey() < config.numExperts() && experts.subMap(range.start(), range.end()).size() == range.count();
    }

    /** The keys of a group's experts in {@code range}, in ascending expert id. */
    private static List<String> inRange(TreeMap<Integer, String> experts, ExpertRange range) {
        return List.copyOf(experts.subMap(range.start(), range.end()).values());
    }

    /** A grouped tensor of the range's experts; none for an empty range, whose rank holds no expert. */
    private static void addGrouped(List<Output> result, String key, Kind kind, List<String> inputs) {
        if (!inputs.isEmpty()) {
            result.add(new Output(key, kind, inputs));
        }
    }

    private void passThrough(List<Output> result, GroupId id, TreeMap<Integer, String> experts) {
        for (Map.Entry<Integer, String> e : experts.entrySet()) {
            result.add(new Output(id.prefix + "layers." + id.layer + "." + naming.segment() + "." + e.getKey() + "."
                    + naming.name(id.projection) + "." + (id.isA ? "lora_A" : "lora_B") + ".weight", Kind.KEPT,
                    List.of(e.getValue())));
        }
    }

    /** E matrices [R, C] stacked transposed: [E, C, R]. */
    private static long[] stackedShape(int experts, long[] first) {
        requireMatrix(first);
        return new long[] {experts, first[1], first[0]};
    }

    /** E gate and E up B [I, r] side by side transposed: [E, r, 2I]. */
    private static long[] gateUpBShape(int experts, long[] gateB) {
        requireMatrix(gateB);
        return new long[] {experts, gateB[1], 2 * gateB[0]};
    }

    private static void requireMatrix(long[] shape) {
        if (shape.length != 2) {
            throw new IllegalArgumentException("a per-expert LoRA weight must be 2-d, got " + Arrays.toString(shape));
        }
    }

    private static Tensor stackTransposed(List<Tensor> experts) {
        List<Tensor> ts = new ArrayList<>(experts.size());
        for (Tensor t : experts) {
            ts.add(t.t());
        }
        return TensorOps.stack(ts, 0);
    }

    // [E, r, 2I]: gate Bᵀ into columns [0, I), up Bᵀ into [I, 2I), written straight into one allocation. The first
    // half of gateThenUp is gate's B of each expert, the second half up's.
    private static Tensor gateUpB(List<Tensor> gateThenUp) {
        int n = gateThenUp.size() / 2;
        Tensor g0 = gateThenUp.get(0);
        long inter = g0.size(0);
        Tensor out = Tensor.allocate(g0.dtype(), gateUpBShape(n, g0.sizes()));
        for (int i = 0; i < n; i++) {
            out.select(0, i).narrow(1, 0, inter).copyFrom(gateThenUp.get(i).t());
            out.select(0, i).narrow(1, inter, inter).copyFrom(gateThenUp.get(n + i).t());
        }
        return out;
    }

    private record GroupId(String prefix, int layer, Projection projection, boolean isA) {}
}
