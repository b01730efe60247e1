package dev.moeshard.moe.lora;

import dev.moeshard.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Grouped expert LoRA tensors ↔ PEFT's ParamWrapper layout for fused v5 experts, where the expert dimension is
 * folded into the LoRA rank. PEFT wraps target parameters in alphabetical order and the first wrapped is the
 * outer wrapper, so {@code down_proj} (outer) has no {@code base_layer.} and {@code gate_up_proj} (inner) has it:
 * <pre>
 *   lora_down_B        [E, r, H]  ↔ {seg}.lora_A.weight             [r·E, H]   reshape
 *   lora_down_A        [E, I, r]  ↔ {seg}.lora_B.weight             [I, r·E]   permute(1, 2, 0), reshape
 *   lora_gate_and_up_B [E, r, 2I] ↔ {seg}.base_layer.lora_A.weight  [r·E, 2I]  reshape
 *   lora_gate_and_up_A [E, H, r]  ↔ {seg}.base_layer.lora_B.weight  [H, r·E]   permute(1, 2, 0), reshape
 * </pre>
 */
public final class LoraParamWrapperFormat {
    private final int numExperts;
    private final String segment;

    /** {@code segment} is the module path that owns the fused expert parameters, e.g. {@code mlp.experts}. */
    public LoraParamWrapperFormat(int numExperts, String segment) {
        this.numExperts = numExperts;
        this.segment = segment;
    }

    /** The ParamWrapper key and contiguous tensor of one grouped LoRA tensor {@code {prefix}layers.{L}.{seg}.{suffix}}. */
    public Map.Entry<String, Tensor> toHf(String prefix, int layer, LoraExpertSuffix suffix, Tensor grouped) {
        String base = prefix + "layers." + layer + "." + segment + ".";
        return switch (suffix) {
            case GATE_AND_UP_B -> Map.entry(base + "base_layer.lora_A.weight", grouped.reshape(-1, grouped.size(2)).contiguous());
            case GATE_AND_UP_A -> Map.entry(base + "base_layer.lora_B.weight", foldExpertsIntoColumns(grouped));
            case DOWN_B -> Map.entry(base + "lora_A.weight", grouped.reshape(-1, grouped.size(2)).contiguous());
            case DOWN_A -> Map.entry(base + "lora_B.weight", foldExpertsIntoColumns(grouped));
        };
    }

    /**
     * {@code stateDict} with every ParamWrapper key under {@code segment} replaced by its grouped tensor under
     * {@code nativeSegment}; the prefix of each key is kept. Kept keys first, converted ones after them.
     */
    public Map<String, Tensor> toGrouped(Map<String, Tensor> stateDict, String nativeSegment) {
        Pattern pattern = Pattern.compile("(?<prefix>.*)layers\\.(?<layer>\\d+)\\." + Pattern.quote(segment)
                + "\\.(?<pw>(?:base_layer\\.)?lora_[AB]\\.weight)");
        Map<String, Tensor> result = new LinkedHashMap<>();
        Map<String, Tensor> converted = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : stateDict.entrySet()) {
            Matcher m = pattern.matcher(e.getKey());
            if (!m.matches()) {
                result.put(e.getKey(), e.getValue());
                continue;
            }
            Tensor t = e.getValue();
            String base = m.group("prefix") + "layers." + m.group("layer") + "." + nativeSegment + ".";
            switch (m.group("pw")) {
                case "lora_A.weight" -> converted.put(base + LoraExpertSuffix.DOWN_B.suffix(), unfoldRows(t, e.getKey()));
                case "lora_B.weight" -> converted.put(base + LoraExpertSuffix.DOWN_A.suffix(), unfoldColumns(t, e.getKey()));
                case "base_layer.lora_A.weight" -> converted.put(base + LoraExpertSuffix.GATE_AND_UP_B.suffix(), unfoldRows(t, e.getKey()));
                default -> converted.put(base + LoraExpertSuffix.GATE_AND_UP_A.suffix(), unfoldColumns(t, e.getKey()));
            }
        }
        result.putAll(converted);
        return result;
    }

    // [E, X, r] -> permute(1, 2, 0) -> [X, r, E] -> [X, r·E]
    private static Tensor foldExpertsIntoColumns(Tensor grouped) {
        return grouped.permute(1, 2, 0).contiguousCopy().reshape(grouped.size(1), -1);
    }

    // [r·E, X] -> [E, r, X]
    private Tensor unfoldRows(Tensor t, String key) {
        long r = rank(t.size(0), key);
        return t.reshape(numExperts, r, t.size(1)).contiguous();
    }

    // [X, r·E] -> [X, r, E] -> permute(2, 0, 1) -> [E, X, r]
    private Tensor unfoldColumns(Tensor t, String key) {
        long r = rank(t.size(1), key);
        return t.reshape(t.size(0), r, numExperts).permute(2, 0, 1).contiguousCopy();
    }

    private long rank(long folded, String key) {
        if (folded % numExperts != 0) {
            throw new IllegalArgumentException(key + ": a folded LoRA dimension of " + folded
                    + " is not a multiple of " + numExperts + " experts");
        }
        return folded / numExperts;
    }
}
