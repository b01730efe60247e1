package dev.moeshard.convert;

import dev.moeshard.moe.ExpertIds;
import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.lora.LoraExpertSuffix;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.TensorEntry;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What is wrong with an input's expert LoRA keys, worked out before a byte moves: every reason the conversion would
 * be wrong or would fail. The grouped tensors they become are the adapter's to plan
 * ({@link dev.moeshard.moe.MoeStateDictAdapter#planFromHf}), as it regroups them.
 *
 * <p>Two input layouts are recognised by their names, which cannot be confused: PEFT's per-expert keys
 * ({@code {p}layers.L.{seg}.E.gate_proj.lora_A.weight}, transformers v4) and PEFT's ParamWrapper keys for fused v5
 * experts ({@code {p}layers.L.{seg}.lora_A.weight}, {@code {seg}.base_layer.lora_B.weight}, the expert axis folded
 * into the LoRA rank). Either becomes, per layer, {@code lora_gate_and_up_A} [E, H, r], {@code lora_gate_and_up_B}
 * [E, r, 2I], {@code lora_down_A} [E, I, r] and {@code lora_down_B} [E, r, H], of which each expert-parallel rank
 * holds its own experts, [E_local, ...], as its grouped weights do: a per-expert key feeds only the rank that holds its
 * expert, a ParamWrapper key (every expert folded into one tensor) every rank that holds any.
 *
 * <p>The grouped layout holds one A for gate and up. PEFT trains two; when they differ, converting would silently
 * drop up's, so the plan reads the (small) A tensors and refuses then.
 *
 * @param inputKeys the input's expert LoRA keys, which the adapter regroups rather than passes through
 * @param expertOf the expert of each per-expert key of {@code inputKeys} (ParamWrapper keys hold every expert)
 * @param layout the layout found: "per-expert", "paramwrapper", or "none"
 * @param problems every reason the input's expert LoRA cannot be converted
 */
record LoraPlan(Set<String> inputKeys, Map<String, Integer> expertOf, String layout, List<String> problems) {

    /** Whether input LoRA key {@code key} holds data of an expert of {@code range}. */
    boolean holdsExpertOf(String key, ExpertRange range) {
        Integer expert = expertOf.get(key);
        return expert != null ? range.contains(expert) : range.count() > 0;
    }

    /** What {@code --lora-format} asks of an input: whichever layout it holds, or exactly one. */
    private record Group(String prefix, int layer, String projection, boolean isA) {}

    static LoraPlan of(Checkpoint checkpoint, ExpertNaming naming, MoeConfig config, LoraInputFormat expected) {
        String seg = Pattern.quote(naming.segment());
        Pattern perExpert = Pattern.compile("(?<prefix>.*)layers\\.(?<layer>\\d+)\\." + seg + "\\.(?<expert>\\d+)\\.(?<proj>"
                + Pattern.quote(naming.gate()) + "|" + Pattern.quote(naming.up()) + "|" + Pattern.quote(naming.down())
                + ")\\.(?<lora>lora_[AB])\\.weight");
        Pattern wrapper = Pattern.compile("(?<prefix>.*)layers\\.(?<layer>\\d+)\\." + seg
                + "\\.(?<pw>(?:base_layer\\.)?lora_[AB]\\.weight)");
        List<String> problems = new ArrayList<>();
        Set<String> inputKeys = new LinkedHashSet<>();
        Map<String, Integer> expertOf = new LinkedHashMap<>();
        Map<Group, TreeMap<Integer, String>> groups = new LinkedHashMap<>();
        Map<String, String> wrapped = new LinkedHashMap<>(); // ParamWrapper key -> the grouped key it becomes
        Set<String> perExpertLayers = new LinkedHashSet<>();
        String marker = "." + naming.segment() + ".";
        for (String key : checkpoint.keys()) {
            if (!key.contains(marker) || !(key.contains(".lora_A.") || key.contains(".lora_B."))) {
                continue;
            }
            Matcher m = perExpert.matcher(key);
            Matcher w = wrapper.matcher(key);
            if (m.matches()) {
                Group g = new Group(m.group("prefix"), ExpertIds.layer(m.group("layer"), key), m.group("proj"),
                        m.group("lora").equals("lora_A"));
                int expert = ExpertIds.expert(m.group("expert"), key);
                groups.computeIfAbsent(g, k -> new TreeMap<>()).put(expert, key);
                expertOf.put(key, expert);
                perExpertLayers.add(base(g.prefix(), g.layer(), naming));
            } else if (w.matches()) {
                String b = base(w.group("prefix"), ExpertIds.layer(w.group("layer"), key), naming);
                LoraExpertSuffix s = switch (w.group("pw")) {
                    case "lora_A.weight" -> LoraExpertSuffix.DOWN_B;
                    case "lora_B.weight" -> LoraExpertSuffix.DOWN_A;
                    case "base_layer.lora_A.weight" -> LoraExpertSuffix.GATE_AND_UP_B;
                    default -> LoraExpertSuffix.GATE_AND_UP_A;
                };
                wrapped.put(key, b + s.suffix());
            } else {
                problems.add(key + ": an expert LoRA key in neither PEFT's per-expert nor its ParamWrapper layout");
            }
            inputKeys.add(key);
        }
        if (!groups.isEmpty() && expected == LoraInputFormat.PARAM_WRAPPER) {
            problems.add("--lora-format paramwrapper, but the input holds per-expert LoRA keys such as "
                    + groups.values().iterator().next().firstEntry().getValue());
        }
        if (!wrapped.isEmpty() && expected == LoraInputFormat.PER_EXPERT) {
            problems.add("--lora-format per-expert, but the input holds ParamWrapper LoRA keys such as "
                    + wrapped.keySet().iterator().next());
        }
        perExpertProblems(checkpoint, naming, config, groups, problems);
        for (Map.Entry<String, String> e : wrapped.entrySet()) {
            String layerBase = e.getValue().substring(0, e.getValue().lastIndexOf('.') + 1);
            if (perExpertLayers.contains(layerBase)) {
                problems.add(e.getKey() + ": this layer has per-expert LoRA keys too; keep one layout per layer");
                continue;
            }
            wrappedProblems(e.getKey(), checkpoint.entry(e.getKey()), e.getValue(), config.numExperts(), problems);
        }
        String layout = groups.isEmpty() && wrapped.isEmpty() ? "none"
                : wrapped.isEmpty() ? "per-expert" : groups.isEmpty() ? "paramwrapper" : "mixed";
        return new LoraPlan(Set.copyOf(inputKeys), Map.copyOf(expertOf), layout, List.copyOf(problems));
    }

    private static String base(String prefix, int layer, ExpertNaming naming) {
        return prefix + "layers." + layer + "." + naming.segment() + ".";
    }

    private static void perExpertProblems(Checkpoint checkpoint, ExpertNaming naming, MoeConfig config,
                                          Map<Group, TreeMap<Integer, String>> groups, List<String> problems) {
        int n = config.numExperts();
        for (Map.Entry<Group, TreeMap<Integer, String>> g : groups.entrySet()) {
            Group id = g.getKey();
            TreeMap<Integer, String> experts = g.getValue();
            String where = base(id.prefix(), id.layer(), naming) + "*." + id.projection() + (id.isA() ? ".lora_A" : ".lora_B");
            if (experts.size() != n || experts.lastKey() >= n) {
                List<Integer> missing = new ArrayList<>();
                for (int e = 0; e < n; e++) {
                    if (!experts.containsKey(e)) {
                        missing.add(e);
                    }
                }
                problems.add(where + ": LoRA weights of experts " + missing + " are missing (the model has " + n + ")");
                continue;
            }
            TensorEntry first = checkpoint.entry(experts.firstEntry().getValue());
            boolean consistent = true;
            for (String key : experts.values()) {
                TensorEntry e = checkpoint.entry(key);
                if (e.shape().length != 2 || !Arrays.equals(e.shape(), first.shape()) || e.dtype() != first.dtype()) {
                    problems.add(key + ": " + e.spec() + ", but " + experts.firstEntry().getValue() + " is " + first.spec());
                    consistent = false;
                }
            }
            if (!consistent) {
                continue;
            }
            boolean gate = id.projection().equals(naming.gate());
            boolean up = id.projection().equals(naming.up());
            if (id.isA() && config.gated() && up) { // gated: gate's and up's A are one grouped tensor
                TreeMap<Integer, String> gateA = groups.get(new Group(id.prefix(), id.layer(), naming.gate(), true));
                if (gateA == null) {
                    problems.add(where + ": up's LoRA A without gate's; the grouped layout needs both");
                } else {
                    problems.addAll(sharedAProblems(checkpoint, gateA, experts));
                }
            } else if (!id.isA() && config.gated() && gate) { // gate B and up B [I, r] -> [E, r, 2I]
                TreeMap<Integer, String> upB = groups.get(new Group(id.prefix(), id.layer(), naming.up(), false));
                if (upB == null || !Arrays.equals(checkpoint.entry(upB.firstEntry().getValue()).shape(), first.shape())) {
                    problems.add(where + ": gate's LoRA B needs up's LoRA B of the same shape " + Arrays.toString(first.shape()));
                }
            } else if (!id.isA() && config.gated() && up
                    && !groups.containsKey(new Group(id.prefix(), id.layer(), naming.gate(), false))) {
                problems.add(where + ": up's LoRA B without gate's; the grouped layout needs both");
            }
        }
    }

    // Reads the A tensors: the grouped layout keeps gate's, and may do so only when up's is the same.
    private static List<String> sharedAProblems(Checkpoint checkpoint, TreeMap<Integer, String> gate,
                                                TreeMap<Integer, String> up) {
        List<String> problems = new ArrayList<>();
        for (Map.Entry<Integer, String> e : up.entrySet()) {
            String gateKey = gate.get(e.getKey());
            if (gateKey == null) {
                problems.add(e.getValue() + ": no gate LoRA A of expert " + e.getKey() + " beside it");
                continue;
            }
            MemorySegment a = checkpoint.tensor(gateKey).segment();
            MemorySegment b = checkpoint.tensor(e.getValue()).segment();
            if (a.byteSize() != b.byteSize() || a.mismatch(b) >= 0) {
                problems.add(e.getValue() + ": differs from " + gateKey + "; the grouped layout holds one LoRA A for"
                        + " gate and up, so converting would lose up's");
            }
        }
        return problems;
    }

    // B of down and of gate/up are folded [r·E, X], their A [X, r·E]: the folded dimension must hold E ranks of r > 0.
    private static void wrappedProblems(String key, TensorEntry e, String grouped, int experts, List<String> problems) {
        long[] s = e.shape();
        boolean foldedRows = grouped.endsWith(LoraExpertSuffix.DOWN_B.suffix())
                || grouped.endsWith(LoraExpertSuffix.GATE_AND_UP_B.suffix());
        long folded = s.length == 2 ? (foldedRows ? s[0] : s[1]) : -1;
        if (folded <= 0 || folded % experts != 0) {
            problems.add(key + ": shape " + Arrays.toString(s) + " has no LoRA dimension that folds " + experts + " experts");
        }
    }
}
