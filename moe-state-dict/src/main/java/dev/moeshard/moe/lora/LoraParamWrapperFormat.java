package dev.moeshard.moe.lora;

import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
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
 * The fold always holds all E experts; unfolded, the grouped tensors hold the experts of one rank's
 * {@link ExpertRange}, [E_local, ...], as the grouped weights do.
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
     * {@code stateDict} with every ParamWrapper key under {@code segment} replaced by its grouped tensor of the experts
     * of {@code range} under {@code nativeSegment} (none for an empty range); the prefix of each key is kept. Kept keys
     * first, converted ones after them.
     */
    public Map<String, Tensor> toGrouped(Map<String, Tensor> stateDict, String nativeSegment, ExpertRange range) {
        Map<String, Tensor> result = new LinkedHashMap<>();
        for (Output o : outputs(stateDict.keySet(), nativeSegment)) {
            Tensor t = stateDict.get(o.input());
            if (o.kind() == Kind.KEPT) {
                result.put(o.key(), t);
            } else if (range.count() > 0) {
                result.put(o.key(), switch (o.kind()) {
                    case ROWS -> t.reshape(unfoldedRows(t.sizes(), o.input())).narrow(0, range.start(), range.count())
                            .contiguous();
                    default -> unfoldColumns(t, o.input(), range);
                });
            }
        }
        return result;
    }

    /**
     * What {@link #toGrouped} makes of tensors of these headers for the experts of {@code range}, from the headers
     * alone: the same keys in the same order, each with the dtype and shape it comes out with.
     */
    public Map<String, TensorSpec> plan(Map<String, TensorSpec> stateDict, String nativeSegment, ExpertRange range) {
        Map<String, TensorSpec> result = new LinkedHashMap<>();
        for (Output o : outputs(stateDict.keySet(), nativeSegment)) {
            TensorSpec s = stateDict.get(o.input());
            if (o.kind() == Kind.KEPT) {
                result.put(o.key(), s);
                continue;
            }
            long[] shape = o.kind() == Kind.ROWS ? unfoldedRows(s.shape(), o.input()) : unfoldedColumns(s.shape(), o.input());
            shape[0] = range.count(); // the fold is checked against all E experts; the rank keeps its own
            if (range.count() > 0) {
                result.put(o.key(), new TensorSpec(o.key(), s.dtype(), shape));
            }
        }
        return result;
    }

    /** How an entry of {@link #toGrouped}'s result is made of its input. */
    private enum Kind {
        /** as it is */
        KEPT,
        /** [r·E, X] → [E, r, X] */
        ROWS,
        /** [X, r·E] → [E, X, r] */
        COLUMNS
    }

    /** One entry of {@link #toGrouped}'s result before any data moves: its key and the input key it is made of. */
    private record Output(String key, Kind kind, String input) {}

    /** The entries {@link #toGrouped} makes of a state dict with {@code keys}, in its order: the one naming rule. */
    private List<Output> outputs(Collection<String> keys, String nativeSegment) {
        Pattern pattern = Pattern.compile("(?<prefix>.*)layers\\.(?<layer>\\d+)\\." + Pattern.quote(segment)
                + "\\.(?<pw>(?:base_layer\\.)?lora_[AB]\\.weight)");
        List<Output> result = new ArrayList<>();
        List<Output> converted = new ArrayList<>();
        for (String key : keys) {
            Matcher m = pattern.matcher(key);
            if (!m.matches()) {
                result.add(new Output(key, Kind.KEPT, key));
                continue;
            }
            String base = m.group("prefix") + "layers." + m.group("layer") + "." + nativeSegment + ".";
            converted.add(switch (m.group("pw")) {
                case "lora_A.weight" -> new Output(base + LoraExpertSuffix.DOWN_B.suffix(), Kind.ROWS, key);
                case "lora_B.weight" -> new Output(base + LoraExpertSuffix.DOWN_A.suffix(), Kind.COLUMNS, key);
                case "base_layer.lora_A.weight" -> new Output(base + LoraExpertSuffix.GATE_AND_UP_B.suffix(), Kind.ROWS, key);
                default -> new Output(base + LoraExpertSuffix.GATE_AND_UP_A.suffix(), Kind.COLUMNS, key);
            });
        }
        result.addAll(converted);
        return result;
    }

    /** [r·E, X] → [E, r, X]. */
    private long[] unfoldedRows(long[] folded, String key) {
        requireMatrix(folded, key);
        return new long[] {numExperts, rank(folded[0], key), folded[1]};
    }

    /** [X, r·E] → [E, X, r]. */
    private long[] unfoldedColumns(long[] folded, String key) {
        requireMatrix(folded, key);
        return new long[] {numExperts, folded[0], rank(folded[1], key)};
    }

    private static void requireMatrix(long[] shape, String key) {
        if (shape.length != 2) {
            throw new IllegalArgumentException(key + ": a ParamWrapper LoRA weight must be 2-d, got "
                    + Arrays.toString(shape));
        }
    }

    // [E, X, r] -> permute(1, 2, 0) -> [X, r, E] -> [X, r·E]
    private static Tensor foldExpertsIntoColumns(Tensor grouped) {
        return grouped.permute(1, 2, 0).contiguousCopy().reshape(grouped.size(1), -1);
    }

    // [X, r·E] -> [X, r, E] -> permute(2, 0, 1) -> [E, X, r], of which the experts of range are copied
    private Tensor unfoldColumns(Tensor t, String key, ExpertRange range) {
        long[] out = unfoldedColumns(t.sizes(), key);
        return t.reshape(out[1], out[2], numExperts).permute(2, 0, 1).narrow(0, range.start(), range.count())
                .contiguousCopy();
    }

    private long rank(long folded, String key) {
        if (folded % numExperts != 0) {
            throw new IllegalArgumentException(key + ": a folded LoRA dimension of " + folded
                    + " is not a multiple of " + numExperts + " experts");
        }
        return folded / numExperts;
    }
}
