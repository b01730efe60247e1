package dev.moeshard.moe;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A transformers-v5 fused expert tensor, as {@code save_original_format=False} writes it:
 * {@code {p}layers.{L}.{seg}.gate_up_proj} [E, 2I, H] with gate rows first (non-gated: {@code up_proj} [E, I, H], or
 * {@code gate_up_proj} of that shape as earlier versions of this tool wrote it), or {@code {seg}.down_proj} [E, H, I].
 * The one rule for which keys are such tensors, the shape they must have, and which tensors of a grouped layout each
 * one becomes: the conversion and the plans made from headers both ask here.
 *
 * @param layerPath the key before the expert segment, {@code {p}layers.{L}}
 * @param projection {@link Projection#UP} for {@code gate_up_proj} (which holds gate too when gated) and
 *     {@code up_proj}, {@link Projection#DOWN} for {@code down_proj}
 * @param form the form of hf-v5 its name is from: {@link GroupedLayout#HF_V5} or {@link GroupedLayout#HF_V5_UP}
 */
public record FusedExperts(String layerPath, Projection projection, GroupedLayout form) {

    private static final List<GroupedLayout> FORMS = List.of(GroupedLayout.HF_V5, GroupedLayout.HF_V5_UP);

    /**
     * {@code key}, a tensor of {@code rank} dimensions, as a fused expert tensor under {@code naming}'s segment; null
     * when it is none. The rank matters: a 2-d {@code mlp.experts.down_proj} is some other module's weight.
     */
    public static FusedExperts parse(ExpertNaming naming, String key, int rank) {
        if (rank != 3 || !key.contains("layers.")) {
            return null;
        }
        for (GroupedLayout form : FORMS) {
            for (Projection p : List.of(Projection.UP, Projection.DOWN)) {
                String suffix = "." + naming.segment() + "." + form.tensorOf(p);
                if (key.endsWith(suffix)) {
                    return new FusedExperts(key.substring(0, key.length() - suffix.length()), p, form);
                }
            }
        }
        return null;
    }

    /** The shape this tensor must have in a model of {@code config}: [E, 2I, H] (non-gated [E, I, H]) or [E, H, I]. */
    public long[] expectedShape(MoeConfig config) {
        return form.shape(sourceName(), config.numExperts(), config);
    }

    /**
     * Why {@code key}, this tensor, cannot be converted in a model of {@code config}, or null when it can: another
     * shape than the model's (its experts could not be cut out), or {@code up_proj} alone in a gated model.
     */
    public String problem(String key, long[] shape, MoeConfig config) {
        if (form == GroupedLayout.HF_V5_UP && config.gated()) {
            return key + ": transformers 5 names non-gated experts up_proj, but the model is gated (its config's"
                    + " activation has a gate), whose fused experts are gate_up_proj";
        }
        long[] expected = expectedShape(config);
        return Arrays.equals(shape, expected) ? null : key + ": a transformers-v5 fused expert tensor of this model"
                + " must have shape " + Arrays.toString(expected) + ", got " + Arrays.toString(shape);
    }

    /** The key suffix it is stored under: {@code gate_up_proj}, {@code up_proj} or {@code down_proj}. */
    public String sourceName() {
        return form.tensorOf(projection);
    }

    /** The tensors of {@code layout} this one feeds (those holding its projections), in the layout's order. */
    public List<String> targets(GroupedLayout layout, boolean gated) {
        List<String> out = new ArrayList<>(2);
        for (String name : layout.tensorNames(gated)) {
            if (form.tensorOf(layout.projectionsIn(name, gated).get(0)).equals(sourceName())) {
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
