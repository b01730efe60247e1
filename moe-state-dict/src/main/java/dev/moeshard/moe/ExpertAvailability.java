package dev.moeshard.moe;

import dev.moeshard.moe.ExpertNaming.ExpertKey;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The check, before an HF state dict is converted or loaded, that every expert weight a rank needs is in it: each
 * projection of each expert of the rank's range, or of the last split for groups registered for write-through, in
 * every layer (and prefix) that has per-expert keys at all.
 */
final class ExpertAvailability {
    private ExpertAvailability() {}

    /** See {@link MoeStateDictAdapter#validateExpertAvailability}. */
    static void validate(MoeStateDictAdapter adapter, Set<String> hfKeys, DeviceMesh mesh) {
        MoeConfig config = adapter.config();
        ExpertNaming naming = adapter.naming();
        int numExperts = config.numExperts();
        List<Integer> required = ExpertRange.forMesh(mesh, numExperts).ids();
        String rankInfo = mesh == null ? "" : " (rank " + mesh.rank() + ")";

        Map<Integer, Set<String>> layersWithExperts = new LinkedHashMap<>();
        for (String key : hfKeys) {
            ExpertKey k = naming.parsePerExpert(key);
            if (k != null) {
                layersWithExperts.computeIfAbsent(k.layer(), l -> new LinkedHashSet<>()).add(k.prefix());
            }
        }
        if (layersWithExperts.isEmpty()) {
            return;
        }
        List<Projection> projections = config.gated()
                ? List.of(Projection.GATE, Projection.UP, Projection.DOWN) : List.of(Projection.UP, Projection.DOWN);
        List<Integer> inplaceIds = adapter.lastExpertIds().isEmpty() ? required : adapter.lastExpertIds();
        List<String> missing = new ArrayList<>();
        int totalRequired = 0;
        for (Map.Entry<Integer, Set<String>> layer : layersWithExperts.entrySet()) {
            for (String prefix : layer.getValue()) {
                for (Projection p : projections) {
                    String groupedKey = adapter.groupedKey(prefix, layer.getKey(), p);
                    List<Integer> ids = adapter.isInplaceLoaded(groupedKey) ? inplaceIds : required;
                    totalRequired += ids.size();
                    for (int id : ids) {
                        String expected = naming.perExpertKey(prefix, layer.getKey(), id, p);
                        if (!hfKeys.contains(expected)) {
                            missing.add(expected);
                        }
                    }
                }
            }
        }
        if (!missing.isEmpty()) {
            int n = missing.size();
            throw new MissingExpertWeightsException("Expert weights missing from checkpoint" + rankInfo + ": " + n + "/"
                    + totalRequired + " required weights not found. Cannot load experts - checkpoint may be incomplete"
                    + " or corrupted. Layers with experts: " + new TreeSet<>(layersWithExperts.keySet())
                    + ", Required experts: " + required + ". First few missing keys: "
                    + PythonRepr.stringList(missing.subList(0, Math.min(5, n)))
                    + (n > 5 ? " (and " + (n - 5) + " more)" : ""), missing);
        }
    }
}
