package dev.moeshard.moe;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where a family keeps its experts and what it calls their projections: {@code {p}layers.{L}.{segment}.{e}.{gate}.weight}
 * per expert, {@code {p}layers.{L}.{segment}.gate_and_up_projs} grouped. The prefix {@code {p}} is whatever stands
 * before {@code layers.} in a key and is carried through unchanged.
 *
 * @param segment the expert path segment: {@code mlp.experts}, {@code block_sparse_moe.experts}, {@code mixer.experts}
 * @param gate name of the gate projection ({@code gate_proj}, Mixtral {@code w1})
 * @param up name of the up projection ({@code up_proj}, Mixtral {@code w3})
 * @param down name of the down projection ({@code down_proj}, Mixtral {@code w2})
 */
public record ExpertNaming(String segment, String gate, String up, String down) {

    /** Qwen, DeepSeek, OLMoE, GLM: {@code mlp.experts.{e}.gate_proj / up_proj / down_proj}. */
    public static final ExpertNaming DEFAULT = new ExpertNaming("mlp.experts", "gate_proj", "up_proj", "down_proj");
    /** Mixtral, MiniMax: {@code block_sparse_moe.experts.{e}.w1 (gate) / w3 (up) / w2 (down)}. */
    public static final ExpertNaming MIXTRAL = new ExpertNaming("block_sparse_moe.experts", "w1", "w3", "w2");
    /** Nemotron-H: {@code mixer.experts.{e}.up_proj / down_proj}. */
    public static final ExpertNaming NEMOTRON_H = new ExpertNaming("mixer.experts", "gate_proj", "up_proj", "down_proj");

    public ExpertNaming {
        if (segment.isEmpty() || segment.startsWith(".") || segment.endsWith(".")) {
            throw new IllegalArgumentException("expert path segment must be a dotted path like 'mlp.experts', got '"
                    + segment + "'");
        }
    }

    /** The same projection names under another segment. */
    public ExpertNaming withSegment(String newSegment) {
        return new ExpertNaming(newSegment, gate, up, down);
    }

    public String name(Projection projection) {
        return switch (projection) {
            case GATE -> gate;
            case UP -> up;
            case DOWN -> down;
        };
    }

    /** {@code {prefix}layers.{layer}.{segment}.{expert}.{projection}.weight}. */
    public String perExpertKey(String prefix, int layer, int expert, Projection projection) {
        return prefix + "layers." + layer + "." + segment + "." + expert + "." + name(projection) + ".weight";
    }

    /** {@code {prefix}layers.{layer}.{segment}.{gate_and_up_projs|down_projs}}. */
    public String groupedKey(String prefix, int layer, GroupedProjection grouped) {
        return prefix + "layers." + layer + "." + segment + "." + grouped.keySuffix();
    }

    /** The per-expert key {@code key} broken into its parts, or null when it is not one. */
    public ExpertKey parsePerExpert(String key) {
        Matcher m = perExpertPattern().matcher(key);
        if (!m.matches()) {
            return null;
        }
        String proj = m.group(4);
        Projection projection = proj.equals(gate) ? Projection.GATE : proj.equals(up) ? Projection.UP : Projection.DOWN;
        return new ExpertKey(m.group(1), ExpertIds.layer(m.group(2), key), ExpertIds.expert(m.group(3), key), projection);
    }

    /** The grouped key {@code key} broken into prefix, layer and projection, or null when it is not one. */
    public GroupedKey parseGrouped(String key) {
        Matcher m = groupedPattern().matcher(key);
        if (!m.matches()) {
            return null;
        }
        GroupedProjection g = m.group(3).equals(GroupedProjection.DOWN_PROJS.keySuffix())
                ? GroupedProjection.DOWN_PROJS : GroupedProjection.GATE_AND_UP_PROJS;
        return new GroupedKey(m.group(1), ExpertIds.layer(m.group(2), key), g);
    }

    private Pattern perExpertPattern() {
        return PATTERNS.computeIfAbsent(this, n -> n.compilePatterns())[0];
    }

    private Pattern groupedPattern() {
        return PATTERNS.computeIfAbsent(this, n -> n.compilePatterns())[1];
    }

    private Pattern[] compilePatterns() {
        // Lazy prefix: the first "layers.{n}." starts the layer path; the prefix keeps everything before it.
        Pattern perExpert = Pattern.compile("(.*?)layers\\.(\\d+)\\." + Pattern.quote(segment) + "\\.(\\d+)\\.("
                + Pattern.quote(gate) + "|" + Pattern.quote(up) + "|" + Pattern.quote(down) + ")\\.weight");
        Pattern grouped = Pattern.compile("(.*?)layers\\.(\\d+)\\." + Pattern.quote(segment)
                + "\\.(gate_and_up_projs|down_projs)");
        return new Pattern[] {perExpert, grouped};
    }

    // Compiled once per naming scheme; a record cannot hold them itself.
    private static final Map<ExpertNaming, Pattern[]> PATTERNS = new ConcurrentHashMap<>();

    /** A parsed per-expert key. */
    public record ExpertKey(String prefix, int layer, int expert, Projection projection) {}

    /** A parsed grouped key. */
    public record GroupedKey(String prefix, int layer, GroupedProjection projection) {}
}
