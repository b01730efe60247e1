package dev.moeshard.moe;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Tells which {@link GroupedLayout} a checkpoint's grouped tensors are in, from their key names, then their shapes
 * (against config.json's sizes when known, else against each other), then a layout a manifest recorded. Names settle
 * every layer but one holding {@code down_projs} alone, which is DeepEP's [E, I, H] or GroupedExperts' [E, H, I]:
 * where H = I, or the sizes are unknown, only a manifest or the user can tell, and the answer is an error that says
 * so, never a guess.
 */
public final class GroupedLayoutDetection {
    private GroupedLayoutDetection() {}

    /**
     * The layout of the grouped tensors among {@code shapes} (key → shape), or empty when there are none.
     *
     * @param config the model's sizes from config.json, or null when there is none
     * @param recorded the layout a {@code moeshard.json} names, or null
     * @throws IllegalArgumentException when the tensors fit no layout, or more than one and nothing recorded decides
     */
    public static Optional<GroupedLayout> detect(Map<String, long[]> shapes, ExpertNaming naming, MoeConfig config,
                                                 GroupedLayout recorded) {
        // layer path -> key suffix -> shape, for every name any layout uses
        Map<String, Map<String, long[]>> layers = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            for (GroupedLayout l : GroupedLayout.values()) {
                GroupedLayout.Key k = l.parse(naming, e.getKey());
                if (k != null) {
                    layers.computeIfAbsent(k.layerPath(), x -> new LinkedHashMap<>())
                            .put(k.name(), e.getValue());
                    break;
                }
            }
        }
        if (layers.isEmpty()) {
            return Optional.empty();
        }
        Set<GroupedLayout> candidates = EnumSet.allOf(GroupedLayout.class);
        String example = null;
        for (Map.Entry<String, Map<String, long[]>> layer : layers.entrySet()) {
            Set<GroupedLayout> fit = EnumSet.noneOf(GroupedLayout.class);
            for (GroupedLayout l : GroupedLayout.values()) {
                if (l.allTensorNames().containsAll(layer.getValue().keySet()) && fits(l, layer.getValue(), config)) {
                    fit.add(l);
                }
            }
            candidates.retainAll(fit);
            if (example == null || fit.size() > 1) {
                example = layer.getKey() + " " + describe(layer.getValue());
            }
        }
        if (candidates.size() == 1) {
            return Optional.of(candidates.iterator().next());
        }
        if (recorded != null && candidates.contains(recorded)) {
            return Optional.of(recorded);
        }
        List<String> names = new ArrayList<>();
        candidates.forEach(l -> names.add(l.cliName()));
        if (candidates.isEmpty()) {
            throw new IllegalArgumentException("the grouped expert tensors fit no single layout of " + GroupedLayout.names()
                    + " (e.g. " + example + "); pass --layout, or a config.json with the model's sizes");
        }
        throw new IllegalArgumentException("cannot tell the grouped layout: " + example + " fits " + names
                + (config == null ? " (no config.json gives H and I)" : " (H = I = " + config.hidden() + ")")
                + " and no moeshard.json says which; pass --layout " + String.join("|", names));
    }

    // Shapes past the expert axis: against config.json's sizes, else H and I read off the down tensor.
    private static boolean fits(GroupedLayout l, Map<String, long[]> layer, MoeConfig config) {
        long hidden;
        long inter;
        boolean gated;
        if (config != null) {
            hidden = config.hidden();
            inter = config.intermediate();
            gated = config.gated();
        } else {
            long[] down = layer.get(l.tensorOf(Projection.DOWN));
            if (down == null || down.length != 3) {
                return true; // nothing to measure against
            }
            long[] hi = l.hiddenAndIntermediate(down);
            hidden = hi[0];
            inter = hi[1];
            gated = l.gated(layer, inter);
        }
        for (Map.Entry<String, long[]> t : layer.entrySet()) {
            if (!l.tensorNames(gated).contains(t.getKey())) {
                return false;
            }
            long[] want = l.shape(t.getKey(), 0, hidden, inter, gated);
            long[] got = t.getValue();
            if (got.length != 3 || got[1] != want[1] || got[2] != want[2]) {
                return false;
            }
        }
        return true;
    }

    private static String describe(Map<String, long[]> layer) {
        List<String> parts = new ArrayList<>();
        layer.forEach((k, v) -> parts.add(k + " " + Arrays.toString(v)));
        return String.join(", ", parts);
    }
}
