package dev.moeshard.moe;

import static dev.moeshard.moe.testing.TestTensors.at;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.parallel.Placement;
import dev.moeshard.moe.parallel.ShardedTensor;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The reference's DTensor semantics: placements and global shapes from fromHf, and Shard(d) → Shard(d-1) in toHf. */
class ShardedSemanticsTest {
    static final long H = ConversionTest.H;
    static final long I = ConversionTest.I;
    static final String GU = "model.layers.0.mlp.experts.gate_and_up_projs";
    static final String DOWN = "model.layers.0.mlp.experts.down_projs";
    static final String NORM = "model.layers.0.input_layernorm.weight";

    static DeviceMesh mesh(List<String> names, int[] sizes, int[] coordinate) {
        return new DeviceMesh(names, sizes, coordinate);
    }

    static MoeStateDictAdapter adapter(int experts, GroupedLayout layout) {
        return new MoeStateDictAdapter(new MoeConfig(experts, H, I, true), ExpertNaming.DEFAULT, layout);
    }

    static Map<String, ShardedTensor> fromHfSharded(MoeStateDictAdapter adapter, Map<String, Tensor> hf,
                                                    DeviceMesh mesh) {
        return adapter.fromHfSharded(new LinkedHashMap<>(hf), FromHfOptions.defaults().withMesh(mesh));
    }

    static Tensor hfTensor(Map<String, Tensor> hf, int expert, String proj) {
        return hf.get("model.layers.0.mlp.experts." + expert + "." + proj + ".weight");
    }

    @Test
    void epMeshGivesShard0WithAllExpertsInTheGlobalShape() {
        Map<String, Tensor> hf = ConversionTest.hfExperts("model.", 1, 4, DType.F32);
        DeviceMesh ep = DeviceMesh.expertParallel(2, 1);
        Map<String, ShardedTensor> out = fromHfSharded(adapter(4, GroupedLayout.DEEPEP), hf, ep);

        ShardedTensor gu = out.get(GU);
        assertEquals(List.of(Placement.shard(0)), gu.placements());
        assertEquals(ep, gu.mesh());
        assertArrayEquals(new long[] {4, H, 2 * I}, gu.globalShape());
        assertArrayEquals(new long[] {2, H, 2 * I}, gu.local().sizes());
        assertEquals(new ExpertRange(2, 4), gu.localExperts(4));
        ShardedTensor down = out.get(DOWN);
        assertEquals(List.of(Placement.shard(0)), down.placements());
        assertArrayEquals(new long[] {4, I, H}, down.globalShape());
        // Local expert 0 is global expert 2.
        Tensor gate2 = hfTensor(hf, 2, "gate_proj");
        Tensor up3 = hfTensor(hf, 3, "up_proj");
        for (long h = 0; h < H; h++) {
            for (long i = 0; i < I; i++) {
                assertEquals(at(gate2, i, h), at(gu.local(), 0, h, i));
                assertEquals(at(up3, i, h), at(gu.local(), 1, h, I + i));
            }
        }
        ShardedTensor norm = out.get(NORM);
        assertEquals(List.of(Placement.replicate()), norm.placements());
        assertArrayEquals(new long[] {H}, norm.globalShape());
        assertEquals(3, out.size());
    }

    @Test
    void epTimesEpShardGivesShard0Shard1AndThisRanksPieceOfDim1() {
        Map<String, Tensor> hf = ConversionTest.hfExperts("model.", 1, 4, DType.F32);
        DeviceMesh mesh = mesh(List.of("ep", "ep_shard"), new int[] {2, 2}, new int[] {1, 1});
        Map<String, ShardedTensor> out = fromHfSharded(adapter(4, GroupedLayout.DEEPEP), hf, mesh);

        ShardedTensor gu = out.get(GU);
        assertEquals(List.of(Placement.shard(0), Placement.shard(1)), gu.placements());
        assertEquals(mesh, gu.mesh());
        assertArrayEquals(new long[] {4, H, 2 * I}, gu.globalShape());
        assertArrayEquals(new long[] {2, H / 2, 2 * I}, gu.local().sizes());
        assertEquals(new ExpertRange(2, 4), gu.localExperts(4));
        ShardedTensor down = out.get(DOWN);
        assertEquals(List.of(Placement.shard(0), Placement.shard(1)), down.placements());
        assertArrayEquals(new long[] {4, I, H}, down.globalShape());
        assertArrayEquals(new long[] {2, I / 2, H}, down.local().sizes());
        Tensor gate3 = hfTensor(hf, 3, "gate_proj");
        Tensor down2 = hfTensor(hf, 2, "down_proj");
        for (long h = 0; h < H / 2; h++) {
            for (long i = 0; i < I; i++) {
                assertEquals(at(gate3, i, H / 2 + h), at(gu.local(), 1, h, i));
            }
        }
        for (long i = 0; i < I / 2; i++) {
            for (long h = 0; h < H; h++) {
                assertEquals(at(down2, h, I / 2 + i), at(down.local(), 0, i, h));
            }
        }
        ShardedTensor norm = out.get(NORM);
        assertEquals(List.of(Placement.replicate(), Placement.replicate()), norm.placements());
        assertArrayEquals(new long[] {H}, norm.globalShape());
    }

    @Test
    void epShardOfSizeOneIsDroppedAndEpReplicateIsReplicate() {
        Map<String, Tensor> hf = ConversionTest.hfExperts("model.", 1, 4, DType.F32);
        DeviceMesh trivial = mesh(List.of("ep", "ep_shard"), new int[] {4, 1}, new int[] {3, 0});
        ShardedTensor gu = fromHfSharded(adapter(4, GroupedLayout.DEEPEP), hf, trivial).get(GU);
        assertEquals(List.of(Placement.shard(0)), gu.placements());
        assertEquals(List.of("ep"), gu.mesh().dimNames());
        assertArrayEquals(new long[] {4, H, 2 * I}, gu.globalShape());
        assertEquals(new ExpertRange(3, 4), gu.localExperts(4));

        DeviceMesh three = mesh(List.of("ep", "ep_shard", "ep_replicate"), new int[] {2, 2, 2}, new int[] {0, 0, 1});
        ShardedTensor gu3 = fromHfSharded(adapter(4, GroupedLayout.DEEPEP), hf, three).get(GU);
        assertEquals(List.of(Placement.shard(0), Placement.shard(1), Placement.replicate()), gu3.placements());
        assertArrayEquals(new long[] {4, H, 2 * I}, gu3.globalShape());
        assertArrayEquals(new long[] {2, H / 2, 2 * I}, gu3.local().sizes());
    }

    @Test
    void toHfShiftsInnerShardToShardMinusOneOnEachExpert() {
        // GROUPED keeps HF orientation: gate_projs [E, I, H] under Shard(1) is gate [I, H] under Shard(0).
        Map<String, Tensor> hf = ConversionTest.hfExperts("model.", 1, 4, DType.F32);
        DeviceMesh mesh = mesh(List.of("ep", "ep_shard"), new int[] {2, 2}, new int[] {1, 1});
        MoeStateDictAdapter adapter = adapter(4, GroupedLayout.GROUPED);
        String gateKey = "model.layers.0.mlp.experts.gate_projs";
        ShardedTensor gates = fromHfSharded(adapter, hf, mesh).get(gateKey);
        assertEquals(List.of(Placement.shard(0), Placement.shard(1)), gates.placements());
        assertArrayEquals(new long[] {4, I, H}, gates.globalShape());

        assertEquals(List.of(Placement.shard(0)), adapter.splitExperts(gates).placements());
        List<Map.Entry<String, ShardedTensor>> experts = adapter.toHfSharded(gateKey, gates, ToHfOptions.defaults());
        assertEquals(List.of("model.layers.0.mlp.experts.2.gate_proj.weight",
                "model.layers.0.mlp.experts.3.gate_proj.weight"), experts.stream().map(Map.Entry::getKey).toList());
        assertEquals(List.of(2, 3), adapter.lastExpertIds());
        for (int k = 0; k < 2; k++) {
            ShardedTensor gate = experts.get(k).getValue();
            assertEquals(List.of("ep_shard"), gate.mesh().dimNames());
            assertEquals(1, gate.mesh().localRank("ep_shard"));
            assertEquals(List.of(Placement.shard(0)), gate.placements());
            assertArrayEquals(new long[] {I, H}, gate.globalShape());
            assertArrayEquals(new long[] {I / 2, H}, gate.local().sizes());
            Tensor original = hfTensor(hf, 2 + k, "gate_proj");
            for (long i = 0; i < I / 2; i++) {
                for (long h = 0; h < H; h++) {
                    assertEquals(at(original, I / 2 + i, h), at(gate.local(), i, h));
                }
            }
        }
    }

    @Test
    void toHfFollowsTheDeepEpTransposeIntoHfOrientation() {
        Map<String, Tensor> hf = ConversionTest.hfExperts("model.", 1, 4, DType.F32);
        DeviceMesh mesh = mesh(List.of("ep", "ep_shard"), new int[] {2, 2}, new int[] {0, 1});
        MoeStateDictAdapter adapter = adapter(4, GroupedLayout.DEEPEP);
        Map<String, ShardedTensor> grouped = fromHfSharded(adapter, hf, mesh);

        // gate_and_up_projs [E, H, 2I] Shard(1) → expert [H, 2I] Shard(0) → gate/up [I, H] Shard(1).
        List<Map.Entry<String, ShardedTensor>> gu = adapter.toHfSharded(GU, grouped.get(GU), ToHfOptions.defaults());
        assertEquals(4, gu.size());
        for (Map.Entry<String, ShardedTensor> e : gu) {
            assertEquals(List.of(Placement.shard(1)), e.getValue().placements(), e.getKey());
            assertArrayEquals(new long[] {I, H}, e.getValue().globalShape(), e.getKey());
            assertArrayEquals(new long[] {I, H / 2}, e.getValue().local().sizes(), e.getKey());
        }
        assertEquals("model.layers.0.mlp.experts.1.up_proj.weight", gu.get(3).getKey());
        Tensor up1 = hfTensor(hf, 1, "up_proj");
        for (long i = 0; i < I; i++) {
            for (long h = 0; h < H / 2; h++) {
                assertEquals(at(up1, i, H / 2 + h), at(gu.get(3).getValue().local(), i, h));
            }
        }
        // down_projs [E, I, H] Shard(1) → expert [I, H] Shard(0) → down [H, I] Shard(1).
        List<Map.Entry<String, ShardedTensor>> down =
                adapter.toHfSharded(DOWN, grouped.get(DOWN), ToHfOptions.defaults());
        assertEquals(2, down.size());
        ShardedTensor down0 = down.get(0).getValue();
        assertEquals(List.of(Placement.shard(1)), down0.placements());
        assertArrayEquals(new long[] {H, I}, down0.globalShape());
        assertArrayEquals(new long[] {H, I / 2}, down0.local().sizes());
        // Non-expert keys pass through unchanged.
        ShardedTensor norm = grouped.get(NORM);
        assertEquals(List.of(Map.entry(NORM, norm)), adapter.toHfSharded(NORM, norm, ToHfOptions.defaults()));
    }

    @Test
    void plainToHfOfATwoDimensionalMeshTensorGivesLocalViewsOfLocalExperts() {
        // [Shard(0), Shard(1)] is what fromHf builds for ep × ep_shard; the local-view toHf must accept it too.
        Map<String, Tensor> hf = ConversionTest.hfExperts("model.", 1, 4, DType.F32);
        DeviceMesh mesh = mesh(List.of("ep", "ep_shard"), new int[] {2, 2}, new int[] {1, 0});
        MoeStateDictAdapter adapter = adapter(4, GroupedLayout.DEEPEP);
        ShardedTensor down = fromHfSharded(adapter, hf, mesh).get(DOWN);
        List<Map.Entry<String, Tensor>> out = adapter.toHf(DOWN, down, ToHfOptions.defaults());
        assertEquals(List.of("model.layers.0.mlp.experts.2.down_proj.weight",
                "model.layers.0.mlp.experts.3.down_proj.weight"), out.stream().map(Map.Entry::getKey).toList());
        Tensor down3 = hfTensor(hf, 3, "down_proj");
        for (long h = 0; h < H; h++) {
            for (long i = 0; i < I / 2; i++) {
                assertEquals(at(down3, h, i), at(out.get(1).getValue(), h, i));
            }
        }
    }

    @Test
    void toHfOfAnEpOnlyTensorGivesWholeExpertsOverAnEmptyMesh() {
        Map<String, Tensor> hf = ConversionTest.hfExperts("model.", 1, 3, DType.F32);
        MoeStateDictAdapter adapter = adapter(3, GroupedLayout.DEEPEP);
        ShardedTensor gu = fromHfSharded(adapter, hf, DeviceMesh.expertParallel(2, 1)).get(GU);
        assertArrayEquals(new long[] {3, H, 2 * I}, gu.globalShape());
        assertArrayEquals(new long[] {1, H, 2 * I}, gu.local().sizes());
        List<Map.Entry<String, ShardedTensor>> out = adapter.toHfSharded(GU, gu, ToHfOptions.defaults());
        assertEquals(List.of("model.layers.0.mlp.experts.2.gate_proj.weight",
                "model.layers.0.mlp.experts.2.up_proj.weight"), out.stream().map(Map.Entry::getKey).toList());
        for (Map.Entry<String, ShardedTensor> e : out) {
            assertEquals(0, e.getValue().mesh().ndim());
            assertEquals(List.of(), e.getValue().placements());
            assertArrayEquals(new long[] {I, H}, e.getValue().globalShape());
        }
    }

    @Test
    void aRankWithNoExpertsGetsNoGroupedTensors() {
        Map<String, Tensor> hf = ConversionTest.hfExperts("model.", 1, 2, DType.F32);
        DeviceMesh ep = DeviceMesh.expertParallel(4, 3);
        MoeStateDictAdapter adapter = adapter(2, GroupedLayout.DEEPEP);
        assertEquals(0, adapter.expertRange(ep).count());

        Map<String, Tensor> plain = adapter.fromHf(new LinkedHashMap<>(hf), FromHfOptions.defaults().withMesh(ep));
        assertEquals(List.of(NORM), List.copyOf(plain.keySet()));
        Map<String, ShardedTensor> sharded = fromHfSharded(adapter, hf, ep);
        assertEquals(List.of(NORM), List.copyOf(sharded.keySet()));
        assertEquals(List.of(Placement.replicate()), sharded.get(NORM).placements());
        assertTrue(adapter.planFromHf(specs(hf), FromHfOptions.defaults().withMesh(ep)).stream()
                .noneMatch(s -> s.name().equals(GU) || s.name().equals(DOWN)));
    }

    @Test
    void fusedGateUpShardedAlongItsFusedAxisIsRefused() {
        // hf-v5 gate_up_proj [E, 2I, H] under Shard(1) is cut along 2I: gate and up are not this rank's pieces.
        Map<String, Tensor> hf = ConversionTest.hfExperts("model.", 1, 2, DType.F32);
        DeviceMesh mesh = mesh(List.of("ep", "ep_shard"), new int[] {1, 2}, new int[] {0, 0});
        MoeStateDictAdapter adapter = adapter(2, GroupedLayout.HF_V5);
        String key = "model.layers.0.mlp.experts.gate_up_proj";
        ShardedTensor gateUp = fromHfSharded(adapter, hf, mesh).get(key);
        assertArrayEquals(new long[] {2, 2 * I, H}, gateUp.globalShape());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> adapter.toHfSharded(key, gateUp, ToHfOptions.defaults()));
        assertTrue(e.getMessage().contains(key), e.getMessage());
    }

    @Test
    void shardedFromHfNeedsAnExpertMesh() {
        Map<String, Tensor> hf = new LinkedHashMap<>(ConversionTest.hfExperts("model.", 1, 2, DType.F32));
        MoeStateDictAdapter adapter = adapter(2, GroupedLayout.DEEPEP);
        assertThrows(IllegalArgumentException.class, () -> adapter.fromHfSharded(hf, FromHfOptions.defaults()));
        assertEquals(7, hf.size()); // nothing consumed
    }

    static Map<String, dev.moeshard.safetensors.TensorSpec> specs(Map<String, Tensor> hf) {
        Map<String, dev.moeshard.safetensors.TensorSpec> specs = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : hf.entrySet()) {
            specs.put(e.getKey(), new dev.moeshard.safetensors.TensorSpec(e.getKey(), e.getValue().dtype(),
                    e.getValue().sizes()));
        }
        return specs;
    }
}
