package dev.moeshard.moe;

import java.util.ArrayList;
import java.util.List;

/**
 * A transformers-v5 fused expert tensor, as {@code save_original_format=False} writes it:
 * {@code {p}layers.{L}.{seg}.gate_up_proj} [E, 2I, H] with gate rows first (non-gated [E, I, H]), or
 * {@code {seg}.down_proj} [E, H, I]. The one rule for which keys are such tensors, the shape they must have, and which
 * tensors of a grouped layout each one becomes: the conversion and the plans made from headers both ask here.
 *
 * @param layerPath the key before the expert segment, {@code {p}layers.{L}}
 * @param projection {@link Projection#UP} for {@code gate_up_proj} (which holds gate too when gated),
 *     {@link Projection#DOWN} for {@code down_proj}
 */
public record FusedExperts(String layerPath, Projection projection) {

    /**
     * {@code key}, a tensor of {@code rank} dimensions, as a fused expert tensor under {@code naming}'s segment; null
     * when it is none. The rank matters: a 2-d {@code mlp.experts.down_proj} is some other module's weight.
     */
    public static FusedExperts parse(ExpertNaming naming, String key, int rank) {
        if (rank != 3 || !key.contains("layers.")) {
            return null;
        }
        for (Projection p : List.of(Projection.UP, Projection.DOWN)) {
            String suffix = "." + naming.segment() + "." + GroupedLayout.HF_V5.tensorOf(p);
            if (key.endsWith(suffix)) {
                return new FusedExperts(key.substring(0, key.length() - suffix.length()), p);
            }
        }
        return null;
    }

    /** The shape this tensor must have in a model of {@code config}: [E, 2I, H] (non-gated [E, I, H]) or [E, H, I]. */
    public long[] expectedShape(MoeConfig config) {
        return GroupedLayout.HF_V5.shape(sourceName(), config.numExperts(), config);
    }

    /** The key suffix it is stored under: {@code gate_up_proj} or {@code down_proj}. */
    public String sourceName() {
        return GroupedLayout.HF_V5.tensorOf(projection);
    }

    /** The tensors of {@code layout} this one feeds (those holding its projections), in the layout's order. */
    public List<String> targets(GroupedLayout layout, boolean gated) {
        List<String> out = new ArrayList<>(2);
        for (String name : layout.tensorNames(gated)) {
            if (GroupedLayout.HF_V5.tensorOf(layout.projectionsIn(name, gated).get(0)).equals(sourceName())) {
                out.add(name);
            }
        }
        return out;
    }

    /** The key of target tensor {@code name} of this layer: {@code {p}layers.{L}.{seg}.{name}}. */
    public String targetKey(ExpertNaming naming, String name) {
        return layerPath + "." + naming.segment() + "." + name;
    }
}
