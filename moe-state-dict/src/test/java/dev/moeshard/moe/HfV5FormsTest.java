package dev.moeshard.moe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.family.DetectedModel;
import dev.moeshard.moe.family.ModelFamily;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * hf-v5 is what transformers 5 holds for a family: [E, 2I, H] gate rows first for most, Llama-4's transposed
 * [E, H, 2I] / [E, I, H], and {@code up_proj} alone for non-gated experts. The forms are chosen for a model, never
 * by name, and are told apart by their names and shapes when read back.
 */
class HfV5FormsTest {
    private static final MoeConfig GATED = new MoeConfig(8, 64, 24, true);
    private static final MoeConfig NON_GATED = new MoeConfig(8, 64, 24, false);

    @Test
    void aModelGetsItsFamilysFormOfHfV5AndEveryOtherLayoutAsItIs() {
        assertSame(GroupedLayout.HF_V5, new DetectedModel(ModelFamily.QWEN3_MOE, GATED).form(GroupedLayout.HF_V5));
        assertSame(GroupedLayout.HF_V5_TRANSPOSED,
                new DetectedModel(ModelFamily.LLAMA4_TEXT, GATED).form(GroupedLayout.HF_V5));
        assertSame(GroupedLayout.HF_V5_UP,
                new DetectedModel(ModelFamily.NEMOTRON_H, NON_GATED).form(GroupedLayout.HF_V5));
        for (GroupedLayout other : List.of(GroupedLayout.DEEPEP, GroupedLayout.GROUPED, GroupedLayout.VLLM)) {
            assertSame(other, new DetectedModel(ModelFamily.LLAMA4_TEXT, GATED).form(other));
            assertSame(other, new DetectedModel(ModelFamily.NEMOTRON_H, NON_GATED).form(other));
        }
        // a form stays itself: forming twice changes nothing
        assertSame(GroupedLayout.HF_V5_TRANSPOSED, GroupedLayout.HF_V5_TRANSPOSED.formFor(false, true));
    }

    @Test
    void theFormsAreNoChoiceOfTheirOwn() {
        assertEquals(List.of("deepep", "grouped", "hf-v5", "vllm"), GroupedLayout.names());
        assertSame(GroupedLayout.HF_V5, GroupedLayout.ofName("hf-v5"));
        assertEquals("hf-v5", GroupedLayout.HF_V5_TRANSPOSED.cliName());
        assertEquals("hf-v5", GroupedLayout.HF_V5_UP.cliName());
        assertTrue(GroupedLayout.HF_V5_UP.isHfV5() && GroupedLayout.HF_V5_TRANSPOSED.isHfV5());
    }

    @Test
    void eachFormHasTheNamesAndShapesTransformersHolds() {
        assertEquals(List.of("gate_up_proj", "down_proj"), GroupedLayout.HF_V5_TRANSPOSED.tensorNames(true));
        assertEquals(List.of(8L, 64L, 48L), boxed(GroupedLayout.HF_V5_TRANSPOSED.shape("gate_up_proj", 8, GATED)));
        assertEquals(List.of(8L, 24L, 64L), boxed(GroupedLayout.HF_V5_TRANSPOSED.shape("down_proj", 8, GATED)));
        assertEquals(List.of("up_proj", "down_proj"), GroupedLayout.HF_V5_UP.tensorNames(false));
        assertEquals(List.of(8L, 24L, 64L), boxed(GroupedLayout.HF_V5_UP.shape("up_proj", 8, NON_GATED)));
        assertEquals(List.of(8L, 64L, 24L), boxed(GroupedLayout.HF_V5_UP.shape("down_proj", 8, NON_GATED)));
        assertEquals(List.of(), GroupedLayout.HF_V5_UP.tensorNames(true), "no gated model is in the up_proj form");
    }

    @Test
    void theAdapterWritesANonGatedModelsHfV5AsUpProjAndRefusesTheUpFormForAGatedOne() {
        MoeStateDictAdapter adapter = new MoeStateDictAdapter(NON_GATED, ExpertNaming.NEMOTRON_H, GroupedLayout.HF_V5);
        assertEquals("backbone.layers.1.mixer.experts.up_proj", adapter.groupedKey("backbone.", 1, Projection.UP));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new MoeStateDictAdapter(GATED, ExpertNaming.DEFAULT, GroupedLayout.HF_V5_UP));
        assertTrue(e.getMessage().contains("non-gated experts only"), e.getMessage());
    }

    @Test
    void aNonGatedUpProjIsReadAsFusedExpertsAndRefusedInAGatedModel() {
        FusedExperts up = FusedExperts.parse(ExpertNaming.NEMOTRON_H, "backbone.layers.1.mixer.experts.up_proj", 3);
        assertEquals(GroupedLayout.HF_V5_UP, up.form());
        assertEquals(Projection.UP, up.projection());
        assertNull(up.problem("k", new long[] {8, 24, 64}, NON_GATED));
        assertTrue(up.problem("k", new long[] {8, 24, 64}, GATED).contains("names non-gated experts up_proj"));
        assertTrue(up.problem("k", new long[] {8, 64, 24}, NON_GATED).contains("must have shape [8, 24, 64]"));
        assertNull(FusedExperts.parse(ExpertNaming.NEMOTRON_H, "backbone.layers.1.mixer.experts.up_proj", 2),
                "a 2-d up_proj is some other module's weight");
    }

    @Test
    void readBackTheFormsAreToldApartByNamesAndShapes() {
        Map<String, long[]> transposed = Map.of(
                "model.layers.0.feed_forward.experts.gate_up_proj", new long[] {8, 64, 48},
                "model.layers.0.feed_forward.experts.down_proj", new long[] {8, 24, 64});
        assertEquals(Optional.of(GroupedLayout.HF_V5_TRANSPOSED), GroupedLayoutDetection.detect(transposed,
                new ExpertNaming("feed_forward.experts", "gate_proj", "up_proj", "down_proj"), GATED, null));
        Map<String, long[]> up = Map.of(
                "backbone.layers.1.mixer.experts.up_proj", new long[] {8, 24, 64},
                "backbone.layers.1.mixer.experts.down_proj", new long[] {8, 64, 24});
        assertEquals(Optional.of(GroupedLayout.HF_V5_UP),
                GroupedLayoutDetection.detect(up, ExpertNaming.NEMOTRON_H, NON_GATED, null));
    }

    private static List<Long> boxed(long[] shape) {
        return Arrays.stream(shape).boxed().toList();
    }
}
