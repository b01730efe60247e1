package dev.moeshard.moe;

import static dev.moeshard.moe.testing.TensorAssertions.assertSameBytes;
import static dev.moeshard.moe.testing.TensorAssertions.assertSameStateDict;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.testing.TestTensors;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** fromHf / toHf scenarios of the reference's tests, on our own small data (E experts, H = 8, I = 4). */
class ConversionTest {
    static final long H = 8;
    static final long I = 4;

    static Map<String, Tensor> hfExperts(String prefix, int layers, int experts, DType dtype) {
        Map<String, Tensor> hf = new LinkedHashMap<>();
        long seed = 100;
        for (int l = 0; l < layers; l++) {
            hf.put(prefix + "layers." + l + ".input_layernorm.weight", TestTensors.random(seed++, dtype, H));
            for (int e = 0; e < experts; e++) {
                hf.put(prefix + "layers." + l + ".mlp.experts." + e + ".gate_proj.weight", TestTensors.random(seed++, dtype, I, H));
                hf.put(prefix + "layers." + l + ".mlp.experts." + e + ".up_proj.weight", TestTensors.random(seed++, dtype, I, H));
                hf.put(prefix + "layers." + l + ".mlp.experts." + e + ".down_proj.weight", TestTensors.random(seed++, dtype, H, I));
            }
        }
        return hf;
    }

    static MoeStateDictAdapter adapter(int experts) {
        return new MoeStateDictAdapter(new MoeConfig(experts, H, I, true), ExpertNaming.DEFAULT);
    }

    @Test
    void gateAndUpAreTransposedIntoColumnsAndDownIsTransposed() {
        Map<String, Tensor> hf = hfExperts("model.", 1, 2, DType.F32);
        Map<String, Tensor> original = new LinkedHashMap<>(hf);
        Map<String, Tensor> grouped = adapter(2).fromHf(hf);
        Tensor gu = grouped.get("model.layers.0.mlp.experts.gate_and_up_projs");
        Tensor down = grouped.get("model.layers.0.mlp.experts.down_projs");
        assertArrayEquals(new long[] {2, H, 2 * I}, gu.sizes());
        assertArrayEquals(new long[] {2, I, H}, down.sizes());
        Tensor gate1 = original.get("model.layers.0.mlp.experts.1.gate_proj.weight");
        Tensor up1 = original.get("model.layers.0.mlp.experts.1.up_proj.weight");
        Tensor down1 = original.get("model.layers.0.mlp.experts.1.down_proj.weight");
        for (long h = 0; h < H; h++) {
            for (long i = 0; i < I; i++) {
                assertEquals(gate1.getDouble(i, h), gu.getDouble(1, h, i));
                assertEquals(up1.getDouble(i, h), gu.getDouble(1, h, I + i));
                assertEquals(down1.getDouble(h, i), down.getDouble(1, i, h));
            }
        }
        assertTrue(grouped.containsKey("model.layers.0.input_layernorm.weight"));
        assertTrue(hf.isEmpty(), "consumed inputs are released from the caller's map");
    }

    @Test
    void anyPrefixBeforeLayersIsKept() {
        for (String prefix : List.of("", "model.", "model.language_model.", "backbone.", "mtp.")) {
            Map<String, Tensor> grouped = adapter(2).fromHf(hfExperts(prefix, 1, 2, DType.F32));
            assertTrue(grouped.containsKey(prefix + "layers.0.mlp.experts.gate_and_up_projs"), prefix);
            assertTrue(grouped.containsKey(prefix + "layers.0.mlp.experts.down_projs"), prefix);
        }
    }

    @Test
    void outputDtypeIsApplied() {
        Map<String, Tensor> grouped = adapter(2).fromHf(hfExperts("model.", 1, 2, DType.F32),
                FromHfOptions.defaults().withOutputDtype(DType.BF16));
        assertEquals(DType.BF16, grouped.get("model.layers.0.mlp.experts.down_projs").dtype());
    }

    @Test
    void scaleInvKeysOfNonFp8TensorsAreDropped() {
        Map<String, Tensor> hf = new LinkedHashMap<>();
        hf.put("some_weight", Tensor.allocate(DType.F32, 10, 10));
        hf.put("some_weight_scale_inv", Tensor.allocate(DType.F32, 10));
        Map<String, Tensor> out = adapter(2).fromHf(hf);
        assertEquals(List.of("some_weight"), List.copyOf(out.keySet()));
    }

    @Test
    void expertParallelLoadsOnlyThisRanksExpertsInAscendingOrder() {
        Map<String, Tensor> hf = hfExperts("model.", 1, 8, DType.BF16);
        Map<String, Tensor> original = new LinkedHashMap<>(hf);
        Map<String, Tensor> grouped = adapter(8).fromHf(hf, FromHfOptions.defaults().withMesh(DeviceMesh.expertParallel(3, 2)));
        Tensor down = grouped.get("model.layers.0.mlp.experts.down_projs");
        assertEquals(2, down.size(0));
        assertSameBytes(original.get("model.layers.0.mlp.experts.7.down_proj.weight").t().contiguousCopy(),
                down.select(0, 1), "expert 7 is local expert 1 of rank 2");
    }

    @Test
    void eachGroupIsEmittedAsSoonAsItIsComplete() {
        Map<String, Tensor> hf = hfExperts("model.", 3, 4, DType.BF16);
        List<String> emitted = new ArrayList<>();
        List<Integer> remaining = new ArrayList<>();
        adapter(4).fromHf(hf, FromHfOptions.defaults(), (k, v) -> {
            emitted.add(k);
            remaining.add(hf.size());
        });
        int layer0Down = emitted.indexOf("model.layers.0.mlp.experts.down_projs");
        int layer0GateUp = emitted.indexOf("model.layers.0.mlp.experts.gate_and_up_projs");
        // Layer 0's groups leave while layers 1 and 2 (2 × 13 entries) have not been read yet.
        assertTrue(remaining.get(layer0GateUp) >= 26, "gate_and_up emitted with " + remaining.get(layer0GateUp) + " left");
        assertTrue(remaining.get(layer0Down) >= 26);
        assertEquals(9, emitted.size());
    }

    @Test
    void incompleteGroupIsAnErrorNotASilentDrop() {
        // A gated expert with gate and down but no up: caught by validation before anything is emitted, so the
        // gate_and_up group can never be dropped without a word.
        MoeStateDictAdapter adapter = new MoeStateDictAdapter(new MoeConfig(1, H, I, true), ExpertNaming.DEFAULT);
        Map<String, Tensor> hf = new LinkedHashMap<>();
        hf.put("model.layers.0.mlp.experts.0.gate_proj.weight", Tensor.allocate(DType.F32, I, H));
        hf.put("model.layers.0.mlp.experts.0.down_proj.weight", Tensor.allocate(DType.F32, H, I));
        assertThrows(MissingExpertWeightsException.class, () -> adapter.fromHf(hf));
    }

    @Test
    void toHfSplitsGatedGroupsAndTransposes() {
        MoeStateDictAdapter adapter = adapter(2);
        Tensor gu = TestTensors.random(7, DType.F32, 2, H, 2 * I);
        Tensor down = TestTensors.random(8, DType.F32, 2, I, H);
        Map<String, Tensor> grouped = new LinkedHashMap<>();
        grouped.put("model.layers.0.mlp.experts.gate_and_up_projs", gu);
        grouped.put("model.layers.0.mlp.experts.down_projs", down);
        grouped.put("model.norm.weight", Tensor.allocate(DType.F32, H));
        Map<String, Tensor> hf = adapter.toHf(grouped, ToHfOptions.defaults());
        assertEquals(7, hf.size());
        Tensor gate1 = hf.get("model.layers.0.mlp.experts.1.gate_proj.weight");
        Tensor up1 = hf.get("model.layers.0.mlp.experts.1.up_proj.weight");
        assertArrayEquals(new long[] {I, H}, gate1.sizes());
        assertTrue(gate1.isContiguous());
        assertSameBytes(gu.select(0, 1).narrow(1, 0, I).t().contiguousCopy(), gate1, "gate");
        assertSameBytes(gu.select(0, 1).narrow(1, I, I).t().contiguousCopy(), up1, "up");
        assertSameBytes(down.select(0, 0).t().contiguousCopy(), hf.get("model.layers.0.mlp.experts.0.down_proj.weight"), "down");
        assertSame(grouped.get("model.norm.weight"), hf.get("model.norm.weight"));
    }

    @Test
    void nonGatedUpProjIsTheWholeTranspose() {
        MoeStateDictAdapter adapter = new MoeStateDictAdapter(new MoeConfig(2, H, I, false), ExpertNaming.NEMOTRON_H);
        Tensor gu = TestTensors.random(9, DType.BF16, 2, H, I);
        Tensor down = TestTensors.random(10, DType.BF16, 2, I, H);
        Map<String, Tensor> grouped = new LinkedHashMap<>();
        grouped.put("backbone.layers.0.mixer.experts.gate_and_up_projs", gu);
        grouped.put("backbone.layers.0.mixer.experts.down_projs", down);
        Map<String, Tensor> hf = adapter.toHf(grouped, ToHfOptions.defaults());
        assertEquals(List.of("backbone.layers.0.mixer.experts.0.up_proj.weight", "backbone.layers.0.mixer.experts.1.up_proj.weight",
                "backbone.layers.0.mixer.experts.0.down_proj.weight", "backbone.layers.0.mixer.experts.1.down_proj.weight"),
                List.copyOf(hf.keySet()));
        assertSameBytes(gu.select(0, 1).t().contiguousCopy(), hf.get("backbone.layers.0.mixer.experts.1.up_proj.weight"), "up");
        // and back
        Map<String, Tensor> back = adapter.fromHf(new LinkedHashMap<>(hf));
        assertSameStateDict(grouped, back);
    }

    @Test
    void downProjsPassThroughUnlessThreeDimensionalWithIntermediateSecond() {
        MoeStateDictAdapter adapter = adapter(2);
        Tensor odd = Tensor.allocate(DType.F32, 2, H, I); // shape[1] is H, not I
        var out = adapter.toHf("model.layers.0.mlp.experts.down_projs", odd, ToHfOptions.defaults());
        assertEquals(1, out.size());
        assertSame(odd, out.get(0).getValue());
        assertEquals(1, adapter.toHf("model.layers.0.mlp.experts.down_projs", Tensor.allocate(DType.F32, 2, I),
                ToHfOptions.defaults()).size());
    }

    @Test
    void prefixOverrideAndExcludeRegex() {
        MoeStateDictAdapter adapter = adapter(2);
        Tensor gu = Tensor.allocate(DType.F32, 2, H, 2 * I);
        var out = adapter.toHf("model.layers.0.mlp.experts.gate_and_up_projs", gu, ToHfOptions.defaults().withPrefixOverride("mtp."));
        assertEquals("mtp.layers.0.mlp.experts.0.gate_proj.weight", out.get(0).getKey());
        var filtered = adapter.toHf("model.layers.0.mlp.experts.gate_and_up_projs", gu,
                ToHfOptions.defaults().withExcludeKeyRegex(".*\\.up_proj\\..*"));
        assertEquals(2, filtered.size());
        assertTrue(filtered.stream().allMatch(e -> e.getKey().endsWith("gate_proj.weight")));
    }

    @Test
    void wrongExpertCountInToHf() {
        var e = assertThrows(IllegalArgumentException.class, () -> adapter(8).toHf(
                "model.layers.0.mlp.experts.gate_and_up_projs", Tensor.allocate(DType.F32, 6, H, 2 * I), ToHfOptions.defaults()));
        assertEquals("Expected first dimension to be 8, got 6", e.getMessage());
    }

    @Test
    void viewsAliasTheGroupedStorageAndCopiesDoNot() {
        MoeStateDictAdapter adapter = adapter(2);
        Tensor gu = TestTensors.random(3, DType.F32, 2, H, 2 * I);
        for (var e : adapter.toHf("model.layers.0.mlp.experts.gate_and_up_projs", gu, ToHfOptions.defaults().withViews(true))) {
            assertSame(gu.storage(), e.getValue().storage(), e.getKey());
            assertFalse(e.getValue().isContiguous(), e.getKey());
        }
        for (var e : adapter.toHf("model.layers.0.mlp.experts.gate_and_up_projs", gu, ToHfOptions.defaults())) {
            assertNotSame(gu.storage(), e.getValue().storage());
            assertTrue(e.getValue().isContiguous());
        }
        assertTrue(adapter.inplaceLoadedKeys().isEmpty(), "plain views are not write-through registrations");
    }

    @Test
    void writeThroughViewsWriteIntoTheCallersStorage() {
        MoeStateDictAdapter adapter = adapter(2);
        Tensor storage = Tensor.allocate(DType.F32, 2, H, 2 * I);
        var views = adapter.toHf("model.layers.0.mlp.experts.gate_and_up_projs", storage,
                ToHfOptions.defaults().withWriteThrough(true));
        Tensor gate0 = views.stream().filter(e -> e.getKey().endsWith("0.gate_proj.weight")).findFirst().orElseThrow().getValue();
        gate0.copyFrom(TestTensors.filled(DType.F32, 7.0, I, H));
        for (long h = 0; h < H; h++) {
            for (long c = 0; c < 2 * I; c++) {
                assertEquals(c < I ? 7.0 : 0.0, storage.getDouble(0, h, c));
                assertEquals(0.0, storage.getDouble(1, h, c));
            }
        }
        assertEquals(java.util.Set.of("model.layers.0.mlp.experts.gate_and_up_projs"), adapter.inplaceLoadedKeys());
    }

    @Test
    void fromHfSkipsRebuildForInplaceLoadedKeysAndRecordsThem() {
        MoeStateDictAdapter adapter = adapter(2);
        var opts = ToHfOptions.defaults().withWriteThrough(true);
        adapter.toHf("model.layers.0.mlp.experts.gate_and_up_projs", Tensor.allocate(DType.F32, 2, H, 2 * I), opts);
        adapter.toHf("model.layers.0.mlp.experts.down_projs", Tensor.allocate(DType.F32, 2, I, H), opts);
        Map<String, Tensor> hf = hfExperts("model.", 1, 2, DType.F32);
        hf.remove("model.layers.0.input_layernorm.weight");
        Map<String, Tensor> out = adapter.fromHf(hf);
        assertEquals(Map.of(), out);
        assertEquals(java.util.Set.of("model.layers.0.mlp.experts.gate_and_up_projs", "model.layers.0.mlp.experts.down_projs"),
                adapter.viewLoadedKeys());
        assertTrue(adapter.inplaceLoadedKeys().isEmpty());
    }

    @Test
    void loadIntoWritesEveryExpertThroughViewsOfModelStorage() {
        Map<String, Tensor> hf = hfExperts("model.", 2, 8, DType.BF16);
        Map<String, Tensor> original = new LinkedHashMap<>(hf);
        Map<String, Tensor> expected = adapter(8).fromHf(new LinkedHashMap<>(hf), FromHfOptions.defaults()
                .withMesh(DeviceMesh.expertParallel(3, 1)));
        MoeStateDictAdapter adapter = adapter(8);
        Map<String, Tensor> model = new LinkedHashMap<>();
        for (int l = 0; l < 2; l++) {
            model.put("model.layers." + l + ".mlp.experts.gate_and_up_projs", Tensor.allocate(DType.BF16, 3, H, 2 * I));
            model.put("model.layers." + l + ".mlp.experts.down_projs", Tensor.allocate(DType.BF16, 3, I, H));
        }
        Map<String, Tensor> rest = adapter.loadInto(model, hf, FromHfOptions.defaults().withMesh(DeviceMesh.expertParallel(3, 1)));
        assertEquals(List.of("model.layers.0.input_layernorm.weight", "model.layers.1.input_layernorm.weight"), List.copyOf(rest.keySet()));
        assertEquals(model.keySet(), adapter.viewLoadedKeys());
        for (String k : model.keySet()) {
            assertSameBytes(expected.get(k), model.get(k), k);
        }
        assertSameBytes(original.get("model.layers.1.input_layernorm.weight"), rest.get("model.layers.1.input_layernorm.weight"), "norm");
    }

    @Test
    void loadIntoOnHeapStorage() {
        Map<String, Tensor> hf = hfExperts("model.", 1, 4, DType.F32);
        Map<String, Tensor> expected = adapter(4).fromHf(new LinkedHashMap<>(hf));
        float[] gateUp = new float[(int) (4 * H * 2 * I)];
        float[] down = new float[(int) (4 * I * H)];
        Map<String, Tensor> model = new LinkedHashMap<>();
        model.put("model.layers.0.mlp.experts.gate_and_up_projs",
                Tensor.wrap(java.lang.foreign.MemorySegment.ofArray(gateUp), DType.F32, 4, H, 2 * I));
        model.put("model.layers.0.mlp.experts.down_projs", Tensor.wrap(java.lang.foreign.MemorySegment.ofArray(down), DType.F32, 4, I, H));
        adapter(4).loadInto(model, hf, FromHfOptions.defaults());
        for (String k : model.keySet()) {
            assertSameBytes(expected.get(k), model.get(k), k);
        }
        assertEquals(expected.get("model.layers.0.mlp.experts.down_projs").getDouble(3, 2, 5), down[(int) ((3 * I + 2) * H + 5)]);
    }

    @Test
    void viewLoadedKeysAccumulateAcrossAnMtpPassAndResetOnTheNextLoad() {
        MoeStateDictAdapter adapter = adapter(2);
        Map<String, Tensor> backbone = Map.of("model.layers.0.mlp.experts.down_projs", Tensor.allocate(DType.F32, 2, I, H));
        Map<String, Tensor> hf = hfExperts("model.", 1, 2, DType.F32);
        adapter.loadInto(backbone, hf, FromHfOptions.defaults());
        // MTP head: HF keys under "mtp.", converted with that prefix stripped.
        adapter.toHf("mtp.layers.0.mlp.experts.down_projs", Tensor.allocate(DType.F32, 2, I, H),
                ToHfOptions.defaults().withWriteThrough(true).withPrefixOverride("mtp."));
        Map<String, Tensor> mtp = hfExperts("", 1, 2, DType.F32);
        adapter.fromHf(mtp, FromHfOptions.defaults().accumulatingViewLoadedKeys());
        assertEquals(java.util.Set.of("model.layers.0.mlp.experts.down_projs", "layers.0.mlp.experts.down_projs"),
                adapter.viewLoadedKeys());
        adapter.fromHf(new LinkedHashMap<>());
        assertTrue(adapter.viewLoadedKeys().isEmpty());
    }

    @Test
    void concatenateExpertsStacksTheFirstCompleteGroup() {
        MoeStateDictAdapter adapter = adapter(2);
        Tensor a = TestTensors.random(1, DType.F32, 3, 2);
        Tensor b = TestTensors.random(2, DType.F32, 3, 2);
        Map<String, Map<String, Map<Integer, Tensor>>> byLayer = new LinkedHashMap<>();
        byLayer.computeIfAbsent("0", k -> new LinkedHashMap<>()).put("x", new LinkedHashMap<>(Map.of(0, a)));
        byLayer.computeIfAbsent("1", k -> new LinkedHashMap<>()).put("y", new LinkedHashMap<>(Map.of(1, b, 0, a)));
        Tensor stacked = adapter.concatenateExperts(byLayer);
        assertArrayEquals(new long[] {2, 3, 2}, stacked.sizes());
        assertSameBytes(a, stacked.select(0, 0), "expert 0 first");
        assertFalse(byLayer.containsKey("1"));
        assertNull(adapter.concatenateExperts(byLayer), "layer 0 is incomplete");
    }

    @Test
    void shardedToHfValidatesAndEmitsLocalExperts() {
        MoeStateDictAdapter adapter = adapter(8);
        Tensor local = TestTensors.random(4, DType.F32, 4, H, 2 * I);
        var sharded = new dev.moeshard.moe.parallel.ShardedTensor(new long[] {8, H, 2 * I}, DeviceMesh.expertParallel(2, 1),
                List.of(dev.moeshard.moe.parallel.Placement.shard(0)), local);
        var out = adapter.toHf("model.layers.3.mlp.experts.gate_and_up_projs", sharded, ToHfOptions.defaults());
        assertEquals(8, out.size());
        assertEquals("model.layers.3.mlp.experts.4.gate_proj.weight", out.get(0).getKey());
        assertEquals(List.of(4, 5, 6, 7), adapter.lastExpertIds());
        var wrong = new dev.moeshard.moe.parallel.ShardedTensor(new long[] {6, H, 2 * I}, DeviceMesh.expertParallel(2, 1),
                List.of(dev.moeshard.moe.parallel.Placement.shard(0)), Tensor.allocate(DType.F32, 3, H, 2 * I));
        var e = assertThrows(IllegalArgumentException.class,
                () -> adapter.toHf("model.layers.3.mlp.experts.gate_and_up_projs", wrong, ToHfOptions.defaults()));
        assertEquals("gate_and_up_projs layer 3 global shape has 6 experts, expected 8", e.getMessage());
    }

    @Test
    void roundTripOfSyntheticCheckpointOnEveryRank() {
        Map<String, Tensor> original = hfExperts("model.language_model.", 2, 5, DType.F16);
        for (int world = 1; world <= 4; world++) {
            Map<String, Tensor> union = new LinkedHashMap<>();
            for (int rank = 0; rank < world; rank++) {
                DeviceMesh mesh = DeviceMesh.expertParallel(world, rank);
                MoeStateDictAdapter adapter = adapter(5);
                Map<String, Tensor> grouped = adapter.fromHf(new LinkedHashMap<>(original), FromHfOptions.defaults().withMesh(mesh));
                union.putAll(adapter.toHf(grouped, ToHfOptions.defaults().withLocalExperts(ExpertRange.forMesh(mesh, 5))));
            }
            assertSameStateDict(original, union);
        }
    }
}
