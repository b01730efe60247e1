package dev.moeshard.properties.moe;

import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.ToHfOptions.LoraFormat;
import dev.moeshard.moe.lora.LoraExpertSuffix;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.properties.harness.Gen;
import dev.moeshard.properties.harness.PropertyCheck;
import dev.moeshard.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * For random models (E, H, I, gated or not, naming, PEFT prefix, layers, dtype) and LoRA ranks r, expert LoRA
 * adapters convert between the grouped layout and each PEFT layout, per expert (v4) and ParamWrapper (v5), and back
 * byte for byte, starting from either side; LoRA of other modules, and base expert weights beside the adapter,
 * come through as well.
 */
class LoraRoundTripProperties {

    @Test
    void perExpertFromGroupedAndBack() {
        PropertyCheck.forAll("lora per expert, grouped first", gen -> groupedFirst(gen, LoraFormat.PER_EXPERT));
    }

    @Test
    void perExpertFromPeftAndBack() {
        PropertyCheck.forAll("lora per expert, peft first", gen -> {
            ExpertLora lora = ExpertLora.random(gen);
            peftFirst(gen, lora, lora.perExpert(gen), LoraFormat.PER_EXPERT);
        });
    }

    @Test
    void paramWrapperFromGroupedAndBack() {
        PropertyCheck.forAll("lora param wrapper, grouped first", gen -> groupedFirst(gen, LoraFormat.PARAM_WRAPPER));
    }

    @Test
    void paramWrapperFromPeftAndBack() {
        PropertyCheck.forAll("lora param wrapper, peft first", gen -> {
            ExpertLora lora = ExpertLora.random(gen);
            peftFirst(gen, lora, lora.paramWrapper(gen), LoraFormat.PARAM_WRAPPER);
        });
    }

    private static void groupedFirst(Gen gen, LoraFormat format) {
        ExpertLora lora = ExpertLora.random(gen);
        Map<String, Tensor> grouped = lora.grouped(gen);
        if (gen.chance(0.3)) {
            // An adapter merged into its model's state dict: the base experts convert beside their LoRA.
            grouped.putAll(lora.model().grouped(gen, ExpertRange.all(lora.model().experts())));
        }
        StateDictSnapshot original = StateDictSnapshot.of(grouped);
        MoeStateDictAdapter adapter = lora.model().adapter();
        Map<String, Tensor> peft = adapter.toHf(grouped, options(gen, format));
        requireGroupedLora(peft, lora, 0, lora + ", " + format + ", toHf");
        Map<String, Tensor> back = adapter.fromHf(new LinkedHashMap<>(peft));
        original.assertSame(back, lora + ", " + format);
        original.assertSame(grouped, lora + ", " + format + ": the inputs after converting them");
    }

    private static void peftFirst(Gen gen, ExpertLora lora, Map<String, Tensor> peft, LoraFormat format) {
        StateDictSnapshot original = StateDictSnapshot.of(peft);
        MoeStateDictAdapter adapter = lora.model().adapter();
        Map<String, Tensor> grouped = adapter.fromHf(new LinkedHashMap<>(peft));
        requireGroupedLora(grouped, lora, 4 * lora.model().layers(), lora + ", " + format + ", fromHf");
        String segment = "." + lora.model().naming().segment() + ".";
        if (grouped.keySet().stream().anyMatch(k -> k.contains(segment)
                && LoraExpertSuffix.of(k, lora.model().naming().segment()) == null)) {
            throw new AssertionError(lora + ", " + format + ", fromHf left expert LoRA keys ungrouped: " + grouped.keySet());
        }
        Map<String, Tensor> back = adapter.toHf(grouped, options(gen, format));
        original.assertSame(back, lora + ", " + format);
        original.assertSame(peft, lora + ", " + format + ": the inputs after converting them");
    }

    /** The conversion in the middle happened: {@code stateDict} holds {@code count} grouped expert LoRA tensors. */
    private static void requireGroupedLora(Map<String, Tensor> stateDict, ExpertLora lora, long count, String where) {
        long grouped = stateDict.keySet().stream()
                .filter(k -> LoraExpertSuffix.of(k, lora.model().naming().segment()) != null).count();
        if (grouped != count) {
            throw new AssertionError(where + " gave " + grouped + " grouped LoRA keys, expected " + count + ": "
                    + stateDict.keySet());
        }
    }

    private static ToHfOptions options(Gen gen, LoraFormat format) {
        return ToHfOptions.defaults().withLoraFormat(format).withViews(gen.chance(0.5));
    }
}
