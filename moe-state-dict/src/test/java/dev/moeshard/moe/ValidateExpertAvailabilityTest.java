package dev.moeshard.moe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The reference's validation scenarios, ported. */
class ValidateExpertAvailabilityTest {
    private static final MoeConfig CONFIG = new MoeConfig(8, 8, 4, true);

    static Map<String, Tensor> experts(String prefix, List<Integer> layers, List<Integer> experts) {
        Map<String, Tensor> hf = new LinkedHashMap<>();
        for (int layer : layers) {
            for (int e : experts) {
                for (String p : List.of("gate_proj", "up_proj", "down_proj")) {
                    long[] shape = p.equals("down_proj") ? new long[] {8, 4} : new long[] {4, 8};
                    hf.put(prefix + "layers." + layer + ".mlp.experts." + e + "." + p + ".weight", Tensor.allocate(DType.F32, shape));
                }
            }
        }
        return hf;
    }

    private static MoeStateDictAdapter adapter() {
        return new MoeStateDictAdapter(CONFIG, ExpertNaming.DEFAULT);
    }

    @Test
    void noExpertWeightsIsFine() {
        adapter().validateExpertAvailability(Set.of("layers.0.attention.weight"), null);
    }

    @Test
    void allExpertsPresent() {
        adapter().validateExpertAvailability(experts("model.", List.of(0, 1), List.of(0, 1, 2, 3, 4, 5, 6, 7)).keySet(), null);
    }

    @Test
    void missingExpertSevenNamesTheKeysWithTheReferenceMessage() {
        var hf = experts("model.", List.of(0, 1), List.of(0, 1, 2, 3, 4, 5, 6));
        var e = assertThrows(MissingExpertWeightsException.class, () -> adapter().validateExpertAvailability(hf.keySet(), null));
        assertEquals("Expert weights missing from checkpoint: 6/48 required weights not found. Cannot load experts - "
                + "checkpoint may be incomplete or corrupted. Layers with experts: [0, 1], Required experts: "
                + "[0, 1, 2, 3, 4, 5, 6, 7]. First few missing keys: ['model.layers.0.mlp.experts.7.gate_proj.weight', "
                + "'model.layers.0.mlp.experts.7.up_proj.weight', 'model.layers.0.mlp.experts.7.down_proj.weight', "
                + "'model.layers.1.mlp.experts.7.gate_proj.weight', 'model.layers.1.mlp.experts.7.up_proj.weight'] "
                + "(and 1 more)", e.getMessage());
        assertEquals(6, e.missingKeys().size());
    }

    @Test
    void rankInfoAndOnlyThisRanksExperts() {
        var hf = experts("model.", List.of(0, 1), List.of(2, 3));
        adapter().validateExpertAvailability(hf.keySet(), DeviceMesh.expertParallel(4, 1));
        var e = assertThrows(MissingExpertWeightsException.class,
                () -> adapter().validateExpertAvailability(hf.keySet(), DeviceMesh.expertParallel(4, 2)));
        assertTrue(e.getMessage().startsWith("Expert weights missing from checkpoint (rank 2): 12/12 required weights"),
                e.getMessage());
        assertTrue(e.getMessage().contains("Required experts: [4, 5]"), e.getMessage());
    }

    @Test
    void withoutModelPrefixAndWithLanguageModelPrefix() {
        adapter().validateExpertAvailability(experts("", List.of(0, 1), List.of(0, 1, 2, 3, 4, 5, 6, 7)).keySet(), null);
        adapter().validateExpertAvailability(
                experts("model.language_model.", List.of(0, 1), List.of(0, 1, 2, 3, 4, 5, 6, 7)).keySet(), null);
        var hf = experts("model.language_model.", List.of(0, 1), List.of(0, 1, 2, 3, 4, 5, 6));
        var e = assertThrows(MissingExpertWeightsException.class, () -> adapter().validateExpertAvailability(hf.keySet(), null));
        assertTrue(e.getMessage().contains("'model.language_model.layers.0.mlp.experts.7.gate_proj.weight'"));
    }

    @Test
    void inplaceLoadedExpertsAreCheckedAgainstTheLastSplit() {
        MoeStateDictAdapter adapter = adapter();
        // Write-through targets for experts 0 and 1 of an EP-local grouped tensor register both keys in place.
        var range = new dev.moeshard.moe.parallel.ExpertRange(0, 2);
        var opts = ToHfOptions.defaults().withWriteThrough(true).withLocalExperts(range);
        adapter.toHf("model.layers.0.mlp.experts.gate_and_up_projs", Tensor.allocate(DType.F32, 2, 8, 8), opts);
        adapter.toHf("model.layers.0.mlp.experts.down_projs", Tensor.allocate(DType.F32, 2, 4, 8), opts);
        assertEquals(List.of(0, 1), adapter.lastExpertIds());
        adapter.validateExpertAvailability(experts("model.", List.of(0), List.of(0, 1)).keySet(), null);
    }

    @Test
    void inplaceLoadedGateUpStillValidatesDownProjection() {
        MoeStateDictAdapter adapter = adapter();
        var opts = ToHfOptions.defaults().withWriteThrough(true).withLocalExperts(new dev.moeshard.moe.parallel.ExpertRange(0, 1));
        adapter.toHf("model.layers.0.mlp.experts.gate_and_up_projs", Tensor.allocate(DType.F32, 1, 8, 8), opts);
        var hf = experts("model.", List.of(0), List.of(0));
        var e = assertThrows(MissingExpertWeightsException.class, () -> adapter.validateExpertAvailability(hf.keySet(), null));
        assertTrue(e.getMessage().contains("model.layers.0.mlp.experts.1.down_proj.weight"), e.getMessage());
    }

    @Test
    void fromHfValidatesBeforeAnythingMoves() {
        var hf = experts("model.", List.of(0), List.of(0, 1, 2, 3, 4, 5, 6));
        hf.put("model.norm.weight", Tensor.allocate(DType.F32, 8));
        int before = hf.size();
        List<String> emitted = new java.util.ArrayList<>();
        assertThrows(MissingExpertWeightsException.class,
                () -> adapter().fromHf(hf, FromHfOptions.defaults(), (k, v) -> emitted.add(k)));
        assertEquals(List.of(), emitted);
        assertEquals(before, hf.size());
    }

    @Test
    void nonGatedModelsNeedOnlyUpAndDown() {
        MoeStateDictAdapter adapter = new MoeStateDictAdapter(new MoeConfig(2, 8, 4, false), ExpertNaming.NEMOTRON_H);
        adapter.validateExpertAvailability(Set.of("backbone.layers.0.mixer.experts.0.up_proj.weight",
                "backbone.layers.0.mixer.experts.0.down_proj.weight", "backbone.layers.0.mixer.experts.1.up_proj.weight",
                "backbone.layers.0.mixer.experts.1.down_proj.weight"), null);
    }
}
