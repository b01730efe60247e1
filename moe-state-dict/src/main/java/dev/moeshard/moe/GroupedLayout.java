package dev.moeshard.moe;

import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How a grouped checkpoint stacks the experts of one layer: which tensors, under which key names, of which shapes,
 * and where each expert's projection lies inside them. Every conversion goes through {@link #projection}: a view
 * [E, I, H] (gate, up) or [E, H, I] (down) in the HF per-expert orientation, so that HF → grouped, grouped → HF and
 * grouped → grouped are all one strided copy between two such views, whatever the layouts.
 *
 * <p>Sharded tensors: expert parallelism always cuts the first axis ({@code ep} → {@code Shard(0)}); an
 * {@code ep_shard} dimension larger than 1 is {@code Shard(1)}, which is H for {@code deepep}'s gate_and_up_projs and
 * for every layout's [E, H, I] down tensor, and 2I or I for the others. After a split each expert carries the inner
 * placement one axis lower ({@code Shard(0)}), as {@link dev.moeshard.moe.parallel.ExpertSplitter} does for all of
 * them.
 *
 * <p>Non-gated models (ReLU²) have no gate: a fused gate/up tensor then holds up alone (width I), and {@code grouped}
 * has no {@code gate_projs}. Expert LoRA tensors ({@code lora_gate_and_up_A} ...) are the same in every layout.
 */
public enum GroupedLayout {
    /**
     * The reference's DeepEP layout: {@code gate_and_up_projs} [E, H, 2I] (gateᵀ in columns [0, I), upᵀ in [I, 2I))
     * and {@code down_projs} [E, I, H] = downᵀ. Placements: {@code ep} → Shard(0), {@code ep_shard} → Shard(1) (H of
     * gate_and_up_projs, I of down_projs).
     */
    DEEPEP("deepep", "gate_and_up_projs", null, null, "down_projs", true, true),
    /**
     * The reference's GroupedExperts: plain stacks of the HF tensors, {@code gate_projs} [E, I, H], {@code up_projs}
     * [E, I, H], {@code down_projs} [E, H, I]; no {@code gate_projs} when non-gated. Placements: {@code ep} →
     * Shard(0), {@code ep_shard} → Shard(1) (I of gate and up, H of down).
     */
    GROUPED("grouped", null, "gate_projs", "up_projs", "down_projs", false, false),
    /**
     * transformers 5 fused experts as {@code save_original_format=False} writes them: {@code gate_up_proj} [E, 2I, H]
     * (gate rows first) and {@code down_proj} [E, H, I]. Placements: {@code ep} → Shard(0), {@code ep_shard} →
     * Shard(1) (2I of gate_up_proj, H of down_proj).
     */
    HF_V5("hf-v5", "gate_up_proj", null, null, "down_proj", false, false),
    /**
     * vLLM's fused MoE weights: {@code w13_weight} [E, 2I, H] (w1 = gate rows, then w3 = up rows) and
     * {@code w2_weight} [E, H, I]. Placements: {@code ep} → Shard(0), {@code ep_shard} → Shard(1) (2I of w13, H of w2).
     */
    VLLM("vllm", "w13_weight", null, null, "w2_weight", false, false),
    /**
     * hf-v5 as transformers 5 holds the experts of a family whose experts module is transposed (Llama-4):
     * {@code gate_up_proj} [E, H, 2I], gate columns first, and {@code down_proj} [E, I, H]. Not a choice of its own:
     * {@link #formFor} gives it for {@code hf-v5} where the family asks for it.
     */
    HF_V5_TRANSPOSED("hf-v5", "gate_up_proj", null, null, "down_proj", true, true),
    /**
     * hf-v5 as transformers 5 holds non-gated experts (Nemotron-H): {@code up_proj} [E, I, H] and {@code down_proj}
     * [E, H, I]; no gated model is in it. Not a choice of its own: {@link #formFor} gives it for a non-gated model.
     */
    HF_V5_UP("hf-v5", null, null, "up_proj", "down_proj", false, false);

    /** The layouts a user picks by name; the others are forms of one of them ({@link #formFor}). */
    private static final List<GroupedLayout> NAMED = List.of(DEEPEP, GROUPED, HF_V5, VLLM);

    private final String cliName;
    private final String fused;
    private final String gate;
    private final String up;
    private final String down;
    // DeepEP keeps gate/up as [H, 2I] and down as [I, H] per expert: the transposes of the HF tensors.
    private final boolean gateUpTransposed;
    private final boolean downTransposed;

    GroupedLayout(String cliName, String fused, String gate, String up, String down, boolean gateUpTransposed,
                  boolean downTransposed) {
        this.cliName = cliName;
        this.fused = fused;
        this.gate = gate;
        this.up = up;
        this.down = down;
        this.gateUpTransposed = gateUpTransposed;
        this.downTransposed = downTransposed;
    }

    /** The name the command line and {@code moeshard.json} use: deepep, grouped, hf-v5, vllm. */
    public String cliName() {
        return cliName;
    }

    /**
     * The form of this layout a model of a family is written in: {@link #HF_V5_TRANSPOSED} for {@code hf-v5} where
     * the family's transformers experts module is transposed, {@link #HF_V5_UP} for {@code hf-v5} of a non-gated
     * model, this layout otherwise. Each is what transformers 5 loads for that family.
     */
    public GroupedLayout formFor(boolean transposedExperts, boolean gated) {
        if (this != HF_V5) {
            return this; // another layout, or a form already
        }
        return transposedExperts ? HF_V5_TRANSPOSED : gated ? HF_V5 : HF_V5_UP;
    }

    /** Whether this is one of the forms of {@code hf-v5}, whose names are also those transformers 5 saves. */
    public boolean isHfV5() {
        return cliName.equals(HF_V5.cliName);
    }

    /** The layout called {@code name} on the command line (case-insensitive). */
    public static GroupedLayout ofName(String name) {
        for (GroupedLayout l : NAMED) {
            if (l.cliName.equals(name.toLowerCase(Locale.ROOT))) {
                return l;
            }
        }
        throw new IllegalArgumentException("unknown grouped layout '" + name + "'; known: " + names());
    }

    /** The layouts a user picks by name: deepep, grouped, hf-v5, vllm. */
    public static List<GroupedLayout> named() {
        return NAMED;
    }

    /** Every layout's name, for messages. */
    public static List<String> names() {
        return NAMED.stream().map(GroupedLayout::cliName).toList();
    }

    /** The key suffixes of one layer's grouped tensors, in the order they are written. */
    public List<String> tensorNames(boolean gated) {
        if (fused != null) {
            return List.of(fused, down);
        }
        if (!gated) {
            return List.of(up, down);
        }
        return gate == null ? List.of() : List.of(gate, up, down); // a non-gated form holds no gated model
    }

    /** Every key suffix this layout can use, gated or not. */
    public List<String> allTensorNames() {
        return gate == null ? tensorNames(false) : tensorNames(true);
    }

    /** The key suffix of the tensor that holds {@code projection}. */
    public String tensorOf(Projection projection) {
        return switch (projection) {
            case DOWN -> down;
            case GATE -> fused != null ? fused : gate;
            case UP -> fused != null ? fused : up;
        };
    }

    /** The projections tensor {@code name} holds, gate before up. */
    public List<Projection> projectionsIn(String name, boolean gated) {
        List<Projection> out = new ArrayList<>(2);
        for (Projection p : gated ? List.of(Projection.GATE, Projection.UP, Projection.DOWN)
                : List.of(Projection.UP, Projection.DOWN)) {
            if (tensorOf(p).equals(name)) {
                out.add(p);
            }
        }
        return out;
    }

    /** The shape of tensor {@code name} for {@code experts} experts. */
    public long[] shape(String name, long experts, long hidden, long inter, boolean gated) {
        if (name.equals(down)) {
            return downTransposed ? new long[] {experts, inter, hidden} : new long[] {experts, hidden, inter};
        }
        if (name.equals(fused)) {
            long width = gated ? 2 * inter : inter;
            return gateUpTransposed ? new long[] {experts, hidden, width} : new long[] {experts, width, hidden};
        }
        if (name.equals(gate) || name.equals(up)) {
            return new long[] {experts, inter, hidden};
        }
        throw new IllegalArgumentException(cliName + " has no grouped tensor '" + name + "'");
    }

    /** {@link #shape(String, long, long, long, boolean)} for {@code config}'s sizes. */
    public long[] shape(String name, long experts, MoeConfig config) {
        return shape(name, experts, config.hidden(), config.intermediate(), config.gated());
    }

    /**
     * The view of {@code projection} inside {@code grouped} (the tensor {@link #tensorOf} names), in HF orientation:
     * [E, I, H] for gate and up, [E, H, I] for down. No data moves.
     */
    public Tensor projection(Tensor grouped, Projection projection, long inter, boolean gated) {
        if (projection == Projection.DOWN) {
            return downTransposed ? grouped.transpose(1, 2) : grouped;
        }
        if (fused == null) {
            return grouped;
        }
        Tensor rows = gateUpTransposed ? grouped.transpose(1, 2) : grouped; // [E, 2I or I, H]
        if (!gated) {
            return rows;
        }
        return projection == Projection.GATE ? rows.narrow(1, 0, inter) : rows.narrow(1, inter, inter);
    }

    /** Whether {@link #projection} transposes the two inner axes for {@code projection}. */
    boolean transposes(Projection projection) {
        return projection == Projection.DOWN ? downTransposed : fused != null && gateUpTransposed;
    }

    /** Whether {@link #projection} narrows the gate/up axis (its dimension 1, in HF orientation) for {@code projection}. */
    boolean narrows(Projection projection, boolean gated) {
        return projection != Projection.DOWN && fused != null && gated;
    }

    /** H and I from the shape of this layout's down tensor. */
    public long[] hiddenAndIntermediate(long[] downShape) {
        return downTransposed ? new long[] {downShape[2], downShape[1]} : new long[] {downShape[1], downShape[2]};
    }

    /**
     * Whether a layer whose tensors have {@code shapes} (key suffix → shape) is gated: a fused gate/up of width 2I,
     * or a {@code gate_projs} tensor.
     */
    public boolean gated(Map<String, long[]> shapes, long inter) {
        if (fused == null) {
            return gate != null && shapes.containsKey(gate);
        }
        long[] s = shapes.get(fused);
        return s != null && s.length == 3 && (gateUpTransposed ? s[2] : s[1]) == 2 * inter;
    }

    /** {@code {prefix}layers.{layer}.{segment}.{name}}. */
    public String key(ExpertNaming naming, String prefix, int layer, String name) {
        return prefix + "layers." + layer + "." + naming.segment() + "." + name;
    }

    /** {@code key} as one of this layout's grouped tensors, or null when it is not one. */
    public Key parse(ExpertNaming naming, String key) {
        Matcher m = PATTERNS.computeIfAbsent(naming.segment() + "\n" + name(), s -> Pattern.compile(
                "(.*?)layers\\.(\\d+)\\." + Pattern.quote(naming.segment()) + "\\.("
                        + String.join("|", allTensorNames().stream().map(Pattern::quote).toList()) + ")")).matcher(key);
        return m.matches() ? new Key(m.group(1), ExpertIds.layer(m.group(2), key), m.group(3)) : null;
    }

    // Compiled once per segment and layout; an enum constant cannot hold a map keyed by naming itself.
    private static final Map<String, Pattern> PATTERNS = new ConcurrentHashMap<>();

    /** A parsed grouped key: the prefix before {@code layers.}, the layer and the tensor's key suffix. */
    public record Key(String prefix, int layer, String name) {
        /** The path of the decoder layer the key lies in: {@code model.layers.3} of {@code model.layers.3.mlp...}. */
        public String layerPath() {
            return prefix + "layers." + layer;
        }
    }
}
