package dev.moeshard.moe.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Ties {@link MoeStateDictAdapter#planFromHf} to {@link MoeStateDictAdapter#fromHf}: the plan made from a state dict's
 * headers names exactly the tensors the conversion of the state dict emits, each with its dtype and shape.
 */
public final class PlanComparison {
    private PlanComparison() {}

    /** The headers of {@code hf}: key → (key, dtype, shape), in its order. */
    public static Map<String, TensorSpec> specsOf(Map<String, Tensor> hf) {
        Map<String, TensorSpec> out = new LinkedHashMap<>();
        hf.forEach((k, v) -> out.put(k, TensorSpec.of(k, v)));
        return out;
    }

    /**
     * Asserts that {@code adapter.planFromHf} of {@code hf}'s headers lists what {@code fromHf} of {@code hf} emits,
     * as a set of (name, dtype, shape) with no name twice; returns the plan. {@code hf} is left as it was.
     */
    public static List<TensorSpec> assertPlanMatchesConversion(MoeStateDictAdapter adapter, Map<String, Tensor> hf,
                                                               FromHfOptions options, String where) {
        List<TensorSpec> planned = adapter.planFromHf(specsOf(hf), options);
        List<TensorSpec> emitted = new ArrayList<>();
        adapter.fromHf(new LinkedHashMap<>(hf), options, (key, value) -> emitted.add(TensorSpec.of(key, value)));
        assertEquals(sorted(emitted), sorted(planned), where + ": the plan against what fromHf emitted");
        assertEquals(planned.size(), planned.stream().map(TensorSpec::name).distinct().count(),
                where + ": a name planned twice in " + planned);
        return planned;
    }

    /** Asserts that the plan and the conversion refuse {@code hf} alike, with the same exception and message. */
    public static void assertBothRefuse(MoeStateDictAdapter adapter, Map<String, Tensor> hf, FromHfOptions options,
                                        Class<? extends RuntimeException> type, String where) {
        RuntimeException plan = assertThrows(type, () -> adapter.planFromHf(specsOf(hf), options), where + ": plan");
        RuntimeException run = assertThrows(type, () -> adapter.fromHf(new LinkedHashMap<>(hf), options),
                where + ": fromHf");
        assertEquals(run.getMessage(), plan.getMessage(), where);
    }

    private static List<String> sorted(List<TensorSpec> specs) {
        return specs.stream().sorted(Comparator.comparing(TensorSpec::name)).map(TensorSpec::toString).toList();
    }
}
