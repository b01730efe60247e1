package dev.moeshard.moe;

import static dev.moeshard.moe.testing.PlanComparison.assertBothRefuse;
import static dev.moeshard.moe.testing.PlanComparison.assertPlanMatchesConversion;
import static dev.moeshard.moe.testing.PlanComparison.specsOf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.family.DetectedModel;
import dev.moeshard.moe.family.FamilyDetection;
import dev.moeshard.moe.lora.LoraExpertSuffix;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.moe.quant.Fp8BlockQuantizer;
import dev.moeshard.moe.testing.FixtureCheckpoint;
import dev.moeshard.moe.testing.TestTensors;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link MoeStateDictAdapter#planFromHf} against {@link MoeStateDictAdapter#fromHf}: for the sample checkpoints and
 * for FP8, LoRA and transformers-v5 fused inputs built from them, in every layout, for every rank of several
 * expert-parallel sizes (one with ranks that own no expert), the plan from headers names exactly the tensors the
 * conversion emits, with their dtypes and shapes, and refuses what the conversion refuses.
 */
class PlanFromHfTest {
    private static final List<String> FIXTURES = List.of("qwen3_moe", "deepseek_v3");

    /** No mesh, every rank of 3, the last ranks of 10 (8 experts: ranks 8 and 9 own none), and a 2-d mesh. */
    private static List<DeviceMesh> meshes() {
        List<DeviceMesh> meshes = new ArrayList<>();
        meshes.add(null);
        for (int r = 0; r < 3; r++) {
            meshes.add(DeviceMesh.expertParallel(3, r));
        }
        meshes.add(DeviceMesh.expertParallel(10, 7));
        meshes.add(DeviceMesh.expertParallel(10, 9));
        meshes.add(new DeviceMesh(List.of("dp_shard_cp", "ep"), new int[] {2, 4}, new int[] {1, 2}));
        return meshes;
    }

    static Stream<Arguments> fixturesAndLayouts() {
        return FIXTURES.stream().flatMap(f -> GroupedLayout.named().stream().map(l -> Arguments.of(f, l)));
    }

    private static DetectedModel model(String fixture) {
        return FamilyDetection.fromConfigFile(FixtureCheckpoint.dir(fixture).resolve("config.json"));
    }

    private static String where(String what, GroupedLayout layout, DeviceMesh mesh, FromHfOptions options) {
        return what + ", " + layout.cliName() + ", mesh " + mesh + ", dtype " + options.outputDtype()
                + (options.keepFp8() ? ", keepFp8" : "");
    }

    @ParameterizedTest(name = "{0}, {1}")
    @MethodSource("fixturesAndLayouts")
    void planOfTheSampleCheckpointsIsWhatTheConversionEmits(String fixture, GroupedLayout layout) {
        DetectedModel model = model(fixture);
        Map<String, Tensor> hf = FixtureCheckpoint.load(FixtureCheckpoint.dir(fixture));
        for (DeviceMesh mesh : meshes()) {
            for (DType dtype : new DType[] {null, DType.F32}) {
                FromHfOptions options = FromHfOptions.defaults().withMesh(mesh).withOutputDtype(dtype);
                List<TensorSpec> plan = assertPlanMatchesConversion(model.adapter(layout), hf, options,
                        where(fixture, layout, mesh, options));
                ExpertRange range = ExpertRange.forMesh(mesh, model.config().numExperts());
                long grouped = plan.stream().filter(s -> layout.parse(model.family().naming(), s.name()) != null).count();
                long perLayer = layout.tensorNames(model.config().gated()).size();
                assertEquals(range.count() == 0 ? 0 : perLayer * moeLayers(hf, model), grouped,
                        where(fixture, layout, mesh, options) + ": grouped tensors");
            }
        }
    }

    /** MoE layers of a per-expert checkpoint: (prefix, layer) pairs with expert keys. */
    private static long moeLayers(Map<String, Tensor> hf, DetectedModel model) {
        return hf.keySet().stream().map(k -> model.family().naming().parsePerExpert(k)).filter(k -> k != null)
                .map(k -> k.prefix() + k.layer()).distinct().count();
    }

    @ParameterizedTest(name = "{0}, {1}")
    @MethodSource("fixturesAndLayouts")
    void planOfDequantizedFp8IsWhatTheConversionEmits(String fixture, GroupedLayout layout) {
        DetectedModel model = model(fixture);
        Map<String, Tensor> hf = blockQuantized(FixtureCheckpoint.load(FixtureCheckpoint.dir(fixture)));
        for (DeviceMesh mesh : meshes()) {
            for (DType dequantized : new DType[] {DType.BF16, DType.F32}) {
                FromHfOptions options = FromHfOptions.defaults().withMesh(mesh).withDequantizedDtype(dequantized);
                List<TensorSpec> plan = assertPlanMatchesConversion(model.adapter(layout), hf, options,
                        where(fixture + " in FP8", layout, mesh, options));
                assertTrue(plan.stream().noneMatch(s -> s.dtype().isFp8() || s.name().endsWith("_scale_inv")),
                        "every FP8 weight is dequantized and every scale dropped: " + plan);
            }
            // I = 32: gate and up blocks cannot line up at the seam, so neither may keep FP8 experts.
            FromHfOptions keep = FromHfOptions.defaults().withMesh(mesh).withKeepFp8(true);
            assertBothRefuse(model.adapter(layout), hf, keep, IllegalArgumentException.class,
                    where(fixture + " in FP8", layout, mesh, keep));
        }
    }

    @ParameterizedTest(name = "gated {0}")
    @ValueSource(booleans = {true, false})
    void planOfKeptFp8IsWhatTheConversionEmits(boolean gated) {
        // I a multiple of 128 where gated, as keeping needs; H = 200 cuts the last block short.
        MoeConfig config = new MoeConfig(4, 200, gated ? 256 : 100, gated);
        Map<String, Tensor> hf = fp8Model(config);
        List<DeviceMesh> meshes = List.of(DeviceMesh.expertParallel(1, 0), DeviceMesh.expertParallel(3, 0),
                DeviceMesh.expertParallel(3, 2), DeviceMesh.expertParallel(6, 5));
        for (DeviceMesh mesh : meshes) {
            FromHfOptions options = FromHfOptions.defaults().withMesh(mesh).withKeepFp8(true);
            MoeStateDictAdapter adapter = new MoeStateDictAdapter(config, ExpertNaming.DEFAULT);
            List<TensorSpec> plan = assertPlanMatchesConversion(adapter, hf, options,
                    where("FP8 model", GroupedLayout.DEEPEP, mesh, options));
            ExpertRange range = ExpertRange.forMesh(mesh, config.numExperts());
            String gu = "model.layers.0.mlp.experts.gate_and_up_projs";
            if (range.count() > 0) {
                int at = names(plan).indexOf(gu);
                assertEquals(new TensorSpec(gu, DType.F8_E4M3, new long[] {range.count(), 200, config.gateUpWidth()}),
                        plan.get(at));
                assertEquals(gu + "_scale_inv", plan.get(at + 1).name(), "grouped scales right after their weight");
            }
            int q = names(plan).indexOf("model.layers.0.self_attn.q_proj.weight");
            assertEquals("model.layers.0.self_attn.q_proj.weight_scale_inv", plan.get(q + 1).name());
            assertEquals(DType.F8_E4M3, plan.get(q).dtype());
            for (GroupedLayout other : List.of(GroupedLayout.GROUPED, GroupedLayout.HF_V5, GroupedLayout.VLLM)) {
                assertBothRefuse(new MoeStateDictAdapter(config, ExpertNaming.DEFAULT, other), hf, options,
                        IllegalArgumentException.class, where("FP8 model", other, mesh, options));
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    // the named layouts: hf-v5's forms are for the families that have them
    @EnumSource(value = GroupedLayout.class, names = {"HF_V5_TRANSPOSED", "HF_V5_UP"},
            mode = EnumSource.Mode.EXCLUDE)
    void planOfExpertLoraIsWhatTheConversionEmits(GroupedLayout layout) {
        DetectedModel model = model("qwen3_moe");
        Map<String, Tensor> base = FixtureCheckpoint.load(FixtureCheckpoint.dir("qwen3_moe"));
        for (boolean paramWrapper : new boolean[] {false, true}) {
            Map<String, Tensor> hf = new LinkedHashMap<>(base);
            hf.putAll(paramWrapper ? paramWrapperLora(model.config()) : perExpertLora(model.config()));
            for (DeviceMesh mesh : meshes()) {
                FromHfOptions options = FromHfOptions.defaults().withMesh(mesh);
                String what = "qwen3_moe with " + (paramWrapper ? "ParamWrapper" : "per-expert") + " LoRA";
                List<TensorSpec> plan = assertPlanMatchesConversion(model.adapter(layout), hf, options,
                        where(what, layout, mesh, options));
                // The rank's experts, as its grouped weights, after everything else; none on a rank with no experts.
                int experts = ExpertRange.forMesh(mesh, 8).count();
                List<TensorSpec> lora = plan.stream().filter(s -> LoraExpertSuffix.of(s.name(), "mlp.experts") != null)
                        .toList();
                assertEquals(experts == 0 ? List.of() : plan.subList(plan.size() - 8, plan.size()), lora,
                        what + ": LoRA last");
                assertEquals(experts > 0, plan.contains(new TensorSpec(
                        "base_model.model.model.layers.1.mlp.experts.lora_gate_and_up_B", DType.BF16,
                        new long[] {experts, 4, 64})), what + ": " + plan);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    // the named layouts: hf-v5's forms are for the families that have them
    @EnumSource(value = GroupedLayout.class, names = {"HF_V5_TRANSPOSED", "HF_V5_UP"},
            mode = EnumSource.Mode.EXCLUDE)
    void planOfTransformersV5FusedExpertsIsWhatTheConversionEmits(GroupedLayout layout) {
        DetectedModel model = model("qwen3_moe");
        // A v5 fused checkpoint: the fixture in HF_V5's layout, every expert.
        Map<String, Tensor> fused = model.adapter(GroupedLayout.HF_V5)
                .fromHf(new LinkedHashMap<>(FixtureCheckpoint.load(FixtureCheckpoint.dir("qwen3_moe"))));
        for (DeviceMesh mesh : meshes()) {
            for (DType dtype : new DType[] {null, DType.F16}) {
                FromHfOptions options = FromHfOptions.defaults().withMesh(mesh).withOutputDtype(dtype);
                assertPlanMatchesConversion(model.adapter(layout), fused, options, where("v5 fused", layout, mesh, options));
            }
        }
        Map<String, Tensor> wrong = new LinkedHashMap<>(fused);
        wrong.put("model.layers.0.mlp.experts.down_proj", Tensor.allocate(DType.BF16, 8, 64, 31));
        assertBothRefuse(model.adapter(layout), wrong, FromHfOptions.defaults(), IllegalArgumentException.class,
                "a fused tensor of another shape");
    }

    @Test
    void planListsTheTensorsInTheOrderTheFileToFileConversionLaysThemOut() {
        MoeConfig config = new MoeConfig(2, 128, 128, true);
        Map<String, Tensor> hf = new LinkedHashMap<>();
        hf.put("embed_tokens.weight", Tensor.allocate(DType.BF16, 4, 128));
        hf.put("layers.0.mlp.experts.1.down_proj.weight", Tensor.allocate(DType.BF16, 128, 128));
        hf.put("layers.0.mlp.experts.0.gate_proj.lora_A.weight", Tensor.allocate(DType.BF16, 2, 128));
        hf.put("layers.0.self_attn.q_proj.weight", fp8(1, 128, 128));
        hf.put("layers.0.self_attn.q_proj.weight_scale_inv", Tensor.allocate(DType.F32, 1, 1));
        for (int e = 0; e < 2; e++) {
            for (Projection p : Projection.values()) {
                hf.putIfAbsent(ExpertNaming.DEFAULT.perExpertKey("", 0, e, p), Tensor.allocate(DType.BF16, 128, 128));
            }
        }
        hf.put("norm.weight", Tensor.allocate(DType.F32, 128));
        hf.put("layers.0.mlp.experts.0.gate_proj.lora_B.weight", Tensor.allocate(DType.BF16, 128, 2));
        MoeStateDictAdapter adapter = new MoeStateDictAdapter(config, ExpertNaming.DEFAULT);
        FromHfOptions rank1 = FromHfOptions.defaults().withMesh(DeviceMesh.expertParallel(2, 1));
        List<TensorSpec> plan = adapter.planFromHf(specsOf(hf), rank1);
        assertEquals(List.of(
                new TensorSpec("embed_tokens.weight", DType.BF16, new long[] {4, 128}),
                new TensorSpec("layers.0.mlp.experts.gate_and_up_projs", DType.BF16, new long[] {1, 128, 256}),
                new TensorSpec("layers.0.mlp.experts.down_projs", DType.BF16, new long[] {1, 128, 128}),
                new TensorSpec("layers.0.self_attn.q_proj.weight", DType.BF16, new long[] {128, 128}),
                new TensorSpec("norm.weight", DType.F32, new long[] {128}),
                // Incomplete per-expert LoRA (one expert of two) passes through, last.
                new TensorSpec("layers.0.mlp.experts.0.gate_proj.lora_A.weight", DType.BF16, new long[] {2, 128}),
                new TensorSpec("layers.0.mlp.experts.0.gate_proj.lora_B.weight", DType.BF16, new long[] {128, 2})),
                plan);
        assertPlanMatchesConversion(adapter, hf, rank1, "the ordered example");
    }

    @Test
    void planRefusesMissingExpertsAsTheConversionDoesAndLeavesTheAdapterAsItWas() {
        DetectedModel model = model("qwen3_moe");
        Map<String, Tensor> hf = FixtureCheckpoint.load(FixtureCheckpoint.dir("qwen3_moe"));
        hf.remove("model.layers.1.mlp.experts.5.up_proj.weight");
        assertBothRefuse(model.adapter(), hf, FromHfOptions.defaults().withMesh(DeviceMesh.expertParallel(2, 1)),
                MissingExpertWeightsException.class, "expert 5 missing, needed by rank 1");
        // Rank 0 does not need expert 5: both convert.
        assertPlanMatchesConversion(model.adapter(), hf, FromHfOptions.defaults().withMesh(DeviceMesh.expertParallel(2, 0)),
                "expert 5 missing, rank 0");

        MoeStateDictAdapter adapter = model.adapter();
        adapter.fromHf(new LinkedHashMap<>(FixtureCheckpoint.load(FixtureCheckpoint.dir("qwen3_moe"))));
        Map<String, Tensor> storage = new LinkedHashMap<>();
        storage.put("model.layers.0.mlp.experts.gate_and_up_projs", Tensor.allocate(DType.BF16, 8, 64, 64));
        adapter.writeThroughTargets(storage, ExpertRange.all(8));
        var viewLoaded = adapter.viewLoadedKeys();
        var inplace = adapter.inplaceLoadedKeys();
        adapter.planFromHf(specsOf(FixtureCheckpoint.load(FixtureCheckpoint.dir("qwen3_moe"))), FromHfOptions.defaults());
        assertEquals(viewLoaded, adapter.viewLoadedKeys());
        assertEquals(inplace, adapter.inplaceLoadedKeys());
    }

    // ---------------------------------------------------------------------------------------------- inputs

    private static List<String> names(List<TensorSpec> specs) {
        return specs.stream().map(TensorSpec::name).toList();
    }

    /** {@code hf} as DeepSeek-V3 stores it: expert, shared-expert and attention projections FP8 with block scales. */
    private static Map<String, Tensor> blockQuantized(Map<String, Tensor> hf) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : hf.entrySet()) {
            Tensor w = e.getValue();
            if (!Fp8BlockQuantizer.quantizes(e.getKey(), w.sizes())) {
                out.put(e.getKey(), w);
                continue;
            }
            Tensor q = Tensor.allocate(DType.F8_E4M3, w.sizes());
            Tensor scales = Tensor.allocate(DType.F32, Fp8BlockDequantizer.scaleShape(w.size(0), w.size(1)));
            Fp8BlockQuantizer.quantize(w, q, scales, e.getKey());
            out.put(e.getKey(), q);
            out.put(e.getKey() + Fp8BlockDequantizer.SCALE_SUFFIX, scales);
        }
        return out;
    }

    /** A small FP8 model of {@code config}: two layers, attention and experts FP8 with scales, BF16 norms. */
    private static Map<String, Tensor> fp8Model(MoeConfig config) {
        Map<String, Tensor> hf = new LinkedHashMap<>();
        long h = config.hidden();
        int seed = 0;
        for (int l = 0; l < 2; l++) {
            String p = "model.layers." + l + ".";
            hf.put(p + "input_layernorm.weight", TestTensors.random(seed++, DType.BF16, h));
            hf.put(p + "self_attn.q_proj.weight", fp8(seed++, h, h));
            hf.put(p + "self_attn.q_proj.weight_scale_inv", TestTensors.random(seed++, DType.F32,
                    Fp8BlockDequantizer.scaleShape(h, h)));
            for (int e = 0; e < config.numExperts(); e++) {
                for (Projection proj : config.gated() ? Projection.values() : new Projection[] {Projection.UP, Projection.DOWN}) {
                    long rows = proj == Projection.DOWN ? h : config.intermediate();
                    long cols = proj == Projection.DOWN ? config.intermediate() : h;
                    String key = ExpertNaming.DEFAULT.perExpertKey("model.", l, e, proj);
                    hf.put(key, fp8(seed++, rows, cols));
                    hf.put(key + Fp8BlockDequantizer.SCALE_SUFFIX, TestTensors.random(seed++, DType.F32,
                            Fp8BlockDequantizer.scaleShape(rows, cols)));
                }
            }
        }
        hf.put("model.norm.weight", TestTensors.random(seed, DType.BF16, h));
        return hf;
    }

    private static Tensor fp8(long seed, long rows, long cols) {
        return TestTensors.random(seed, DType.F32, rows, cols).to(DType.F8_E4M3);
    }

    private static final String PEFT = "base_model.model.model.layers.";
    private static final long R = 4;

    /** PEFT per-expert LoRA of every expert (gate's and up's A the same), beside attention LoRA that passes through. */
    private static Map<String, Tensor> perExpertLora(MoeConfig c) {
        Map<String, Tensor> t = new LinkedHashMap<>();
        int seed = 100;
        for (int layer = 0; layer < 2; layer++) {
            t.put(PEFT + layer + ".self_attn.q_proj.lora_A.weight", TestTensors.random(seed++, DType.BF16, R, c.hidden()));
            for (int e = 0; e < c.numExperts(); e++) {
                String x = PEFT + layer + ".mlp.experts." + e + ".";
                Tensor a = TestTensors.random(seed++, DType.BF16, R, c.hidden());
                t.put(x + "gate_proj.lora_A.weight", a);
                t.put(x + "gate_proj.lora_B.weight", TestTensors.random(seed++, DType.BF16, c.intermediate(), R));
                t.put(x + "up_proj.lora_A.weight", a.contiguousCopy());
                t.put(x + "up_proj.lora_B.weight", TestTensors.random(seed++, DType.BF16, c.intermediate(), R));
                t.put(x + "down_proj.lora_A.weight", TestTensors.random(seed++, DType.BF16, R, c.intermediate()));
                t.put(x + "down_proj.lora_B.weight", TestTensors.random(seed++, DType.BF16, c.hidden(), R));
            }
        }
        return t;
    }

    /** PEFT ParamWrapper LoRA of fused experts: the expert axis folded into the rank. */
    private static Map<String, Tensor> paramWrapperLora(MoeConfig c) {
        Map<String, Tensor> t = new LinkedHashMap<>();
        long folded = R * c.numExperts();
        int seed = 200;
        for (int layer = 0; layer < 2; layer++) {
            String x = PEFT + layer + ".mlp.experts.";
            t.put(x + "lora_A.weight", TestTensors.random(seed++, DType.BF16, folded, c.hidden()));
            t.put(x + "lora_B.weight", TestTensors.random(seed++, DType.BF16, c.intermediate(), folded));
            t.put(x + "base_layer.lora_A.weight", TestTensors.random(seed++, DType.BF16, folded, c.gateUpWidth()));
            t.put(x + "base_layer.lora_B.weight", TestTensors.random(seed++, DType.BF16, c.hidden(), folded));
        }
        return t;
    }
}
