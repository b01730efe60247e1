package dev.moeshard.properties.moe;

import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.properties.harness.Gen;
import dev.moeshard.properties.harness.PropertyCheck;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * For random models (E, H, I, gated or not, prefix, naming, layers, dtypes), inputs (per-expert, with per-expert or
 * ParamWrapper LoRA, transformers-v5 fused, FP8 block-quantized with all, most or none of the scales), layouts,
 * expert-parallel sizes W up to E + 2 (so that some ranks own no expert) and options (output dtype, dequantized dtype,
 * FP8 kept): the plan made from the input's headers names exactly the tensors fromHf emits, with their dtypes and
 * shapes, and where fromHf refuses the input, so does the plan.
 */
class PlanFromHfProperties {
    private static final List<DType> FLOATS = List.of(DType.BF16, DType.F16, DType.F32);

    @Test
    void planFromHeadersIsWhatFromHfEmits() {
        PropertyCheck.forAll("planFromHf is what fromHf emits", PropertyCheck.tries() / 2, gen -> {
            MoeModel model = MoeModel.random(gen);
            GroupedLayout layout = gen.oneOf(GroupedLayout.named());
            Map<String, Tensor> hf = input(gen, model);
            int world = gen.between(1, model.experts() + 2);
            int rank = gen.between(0, world - 1);
            FromHfOptions options = options(gen, model, world, rank);
            String where = model + ", " + layout.cliName() + ", W " + world + ", rank " + rank + ", output "
                    + options.outputDtype() + ", dequantized " + options.dequantizedDtype()
                    + (options.keepFp8() ? ", FP8 kept" : "") + ", keys " + hf.keySet();
            MoeStateDictAdapter adapter = new MoeStateDictAdapter(model.config(), model.naming(), layout);
            List<TensorSpec> emitted = new ArrayList<>();
            RuntimeException refused = null;
            try {
                adapter.fromHf(new LinkedHashMap<>(hf), options, (k, v) -> emitted.add(TensorSpec.of(k, v)));
            } catch (RuntimeException e) {
                refused = e;
            }
            Map<String, TensorSpec> headers = new LinkedHashMap<>();
            hf.forEach((k, v) -> headers.put(k, TensorSpec.of(k, v)));
            List<TensorSpec> planned;
            try {
                planned = adapter.planFromHf(headers, options);
            } catch (RuntimeException e) {
                if (refused == null || refused.getClass() != e.getClass()) {
                    throw new AssertionError(where + ": the plan refused (" + e + "), fromHf " + refused, e);
                }
                return;
            }
            if (refused != null) {
                throw new AssertionError(where + ": fromHf refused (" + refused + "), the plan gave " + planned, refused);
            }
            if (!sorted(planned).equals(sorted(emitted))) {
                throw new AssertionError(where + ":\n  planned " + sorted(planned) + "\n  emitted " + sorted(emitted));
            }
            if (planned.stream().map(TensorSpec::name).distinct().count() != planned.size()) {
                throw new AssertionError(where + ": a name planned twice in " + planned);
            }
        });
    }

    /** One of the inputs to-grouped reads, of {@code model}. */
    private static Map<String, Tensor> input(Gen gen, MoeModel model) {
        Map<String, Tensor> hf = model.hf(gen);
        switch (gen.between(0, 4)) {
            case 0 -> hf.putAll(new ExpertLora(model, gen.between(1, 4)).perExpert(gen));
            case 1 -> hf.putAll(new ExpertLora(model, gen.between(1, 4)).paramWrapper(gen));
            case 2 -> hf = new MoeStateDictAdapter(model.config(), model.naming(), GroupedLayout.HF_V5)
                    .fromHf(new LinkedHashMap<>(hf));
            default -> { }
        }
        if (model.dtype().isFp8() && gen.chance(0.7)) {
            hf = withScales(gen, hf, gen.chance(0.8) ? 1.0 : 0.9);
        }
        return hf;
    }

    /**
     * {@code hf} with block scales [⌈R/128⌉, ⌈C/128⌉] of random bytes beside each of its 2-d FP8 tensors, each with
     * probability {@code p}.
     */
    private static Map<String, Tensor> withScales(Gen gen, Map<String, Tensor> hf, double p) {
        List<Map.Entry<String, Tensor>> entries = new ArrayList<>(hf.entrySet());
        for (Map.Entry<String, Tensor> e : hf.entrySet()) {
            Tensor t = e.getValue();
            if (t.dtype().isFp8() && t.dim() == 2 && gen.chance(p)) {
                entries.add(Map.entry(e.getKey() + Fp8BlockDequantizer.SCALE_SUFFIX, MoeModel.random(gen, DType.F32,
                        Fp8BlockDequantizer.scaleShape(t.size(0), t.size(1)))));
            }
        }
        return MoeModel.shuffled(gen, entries);
    }

    private static FromHfOptions options(Gen gen, MoeModel model, int world, int rank) {
        FromHfOptions options = FromHfOptions.defaults().withMesh(ExpertMeshes.random(gen, world, rank))
                .withDequantizedDtype(gen.oneOf(FLOATS));
        if (gen.chance(0.3)) {
            // Only float formats convert; other dtypes can only keep their own.
            options = options.withOutputDtype(model.dtype().isConvertible() ? gen.oneOf(FLOATS) : model.dtype());
        }
        return options.withKeepFp8(model.dtype().isFp8() && gen.chance(0.4));
    }

    private static List<String> sorted(List<TensorSpec> specs) {
        return specs.stream().sorted(Comparator.comparing(TensorSpec::name)).map(TensorSpec::toString).toList();
    }
}
