package dev.moeshard.moe;

import dev.moeshard.moe.parallel.ExpertRange;
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
 * @param identityExperts the ids under the expert path that name identity experts, not routed ones (empty for most
 *                        families): keys under them are not per-expert keys to this naming, so that every conversion
 *                        passes them through as it does any other tensor; null for none
 */
public record ExpertNaming(String segment, String gate, String up, String down, ExpertRange identityExperts) {

    // First: the constants below are built with it.
    private static final ExpertRange NO_IDENTITY_EXPERTS = new ExpertRange(0, 0);

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
        identityExperts = identityExperts == null ? NO_IDENTITY_EXPERTS : identityExperts;
    }

    /** A naming whose every id is a routed expert. */
    public ExpertNaming(String segment, String gate, String up, String down) {
        this(segment, gate, up, down, NO_IDENTITY_EXPERTS);
    }

    /** The same projection names under another segment. */
    public ExpertNaming withSegment(String newSegment) {
        return new ExpertNaming(newSegment, gate, up, down, identityExperts);
    }

    /**
     * This naming for a model with {@code config}'s identity experts, ids [E, E + Z): keys under them stop being
     * per-expert keys. transformers 5 allocates LongCat-Flash's fused {@code gate_up_proj} for E + Z experts and its
     * {@code down_proj} for E, and saves the rows it never reads (its forward sends the identity experts' tokens
     * through {@code nn.Identity}) as {@code experts.{E..E+Z-1}.gate_proj / up_proj}: parameters of no expert that
     * is ever computed, which must still come back where they were for the checkpoint to load.
     */
    public ExpertNaming withIdentityExperts(MoeConfig config) {
        ExpertRange ids = config.identityExperts() == 0 ? NO_IDENTITY_EXPERTS
                : new ExpertRange(config.numExperts(), config.numExperts() + config.identityExperts());
        return ids.equals(identityExperts) ? this : new ExpertNaming(segment, gate, up, down, ids);
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

    /**
     * The per-expert key {@code key} broken into its parts, or null when it is not one: not of the pattern, or under
     * an identity expert's id.
     */
    public ExpertKey parsePerExpert(String key) {
        ExpertKey k = parseAnyId(key);
        return k == null || identityExperts.contains(k.expert()) ? null : k;
    }

    /** {@code key} broken into its parts when it lies under an identity expert's id, else null. */
    public ExpertKey parseIdentityExpert(String key) {
        ExpertKey k = parseAnyId(key);
        return k != null && identityExperts.contains(k.expert()) ? k : null;
    }

    private ExpertKey parseAnyId(String key) {
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
