package dev.moeshard.moe.lora;

import static dev.moeshard.moe.testing.TensorAssertions.assertSameBytes;
import static dev.moeshard.moe.testing.TensorAssertions.assertSameStateDict;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.ToHfOptions.LoraFormat;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.parallel.Placement;
import dev.moeshard.moe.parallel.ShardedTensor;
import dev.moeshard.moe.testing.TestTensors;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.TensorOps;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Expert LoRA under expert parallelism: each rank groups the LoRA of exactly the experts its grouped weights hold
 * ({@link ExpertRange#forMesh}), 8 experts over 3 ranks being 3 / 3 / 2, and the ranks' PEFT tensors together are the
 * adapter byte for byte. H = 8, I = 6, r = 3.
 */
class ExpertParallelLoraTest {
    static final long H = 8;
    static final long I = 6;
    static final long R = 3;
    static final String BASE = "base_model.model.model.layers.1.mlp.experts.";
    static final String GU_A = BASE + "lora_gate_and_up_A";
    static final String GU_B = BASE + "lora_gate_and_up_B";
    static final String DOWN_A = BASE + "lora_down_A";
    static final String DOWN_B = BASE + "lora_down_B";

    static MoeStateDictAdapter adapter(int experts) {
        return new MoeStateDictAdapter(new MoeConfig(experts, H, I, true), ExpertNaming.DEFAULT);
    }

    /** A per-expert PEFT adapter of {@code experts} experts, up's A a copy of gate's as PEFT's shared A. */
    static Map<String, Tensor> peft(int experts) {
        Map<String, Tensor> hf = new LinkedHashMap<>();
        for (int e = 0; e < experts; e++) {
            String x = BASE + e + ".";
            Tensor a = TestTensors.random(10 * e + 1, DType.BF16, R, H);
            hf.put(x + "gate_proj.lora_A.weight", a);
            hf.put(x + "gate_proj.lora_B.weight", TestTensors.random(10 * e + 2, DType.BF16, I, R));
            hf.put(x + "up_proj.lora_A.weight", a.contiguousCopy());
            hf.put(x + "up_proj.lora_B.weight", TestTensors.random(10 * e + 3, DType.BF16, I, R));
            hf.put(x + "down_proj.lora_A.weight", TestTensors.random(10 * e + 4, DType.BF16, R, I));
            hf.put(x + "down_proj.lora_B.weight", TestTensors.random(10 * e + 5, DType.BF16, H, R));
        }
        return hf;
    }

    private static Tensor peftTensor(Map<String, Tensor> hf, int expert, String proj, String ab) {
        return hf.get(BASE + expert + "." + proj + ".lora_" + ab + ".weight");
    }

    /** The grouped LoRA of exactly {@code range}'s experts, by its formula: each PEFT tensor transposed in its slot. */
    private static void assertGroupedForRange(Map<String, Tensor> hf, Map<String, Tensor> grouped, ExpertRange range,
                                              String where) {
        assertArrayEquals(new long[] {range.count(), H, R}, grouped.get(GU_A).sizes(), where);
        assertArrayEquals(new long[] {range.count(), R, 2 * I}, grouped.get(GU_B).sizes(), where);
        assertArrayEquals(new long[] {range.count(), I, R}, grouped.get(DOWN_A).sizes(), where);
        assertArrayEquals(new long[] {range.count(), R, H}, grouped.get(DOWN_B).sizes(), where);
        for (int i = 0; i < range.count(); i++) {
            int e = range.start() + i;
            String at = where + ", local expert " + i + " = expert " + e;
            assertSameBytes(peftTensor(hf, e, "gate_proj", "A").t().contiguousCopy(),
                    grouped.get(GU_A).select(0, i).contiguousCopy(), at + ": gate/up A");
            Tensor b = grouped.get(GU_B).select(0, i);
            assertSameBytes(peftTensor(hf, e, "gate_proj", "B").t().contiguousCopy(),
                    b.narrow(1, 0, I).contiguousCopy(), at + ": gate B");
            assertSameBytes(peftTensor(hf, e, "up_proj", "B").t().contiguousCopy(),
                    b.narrow(1, I, I).contiguousCopy(), at + ": up B");
            assertSameBytes(peftTensor(hf, e, "down_proj", "A").t().contiguousCopy(),
                    grouped.get(DOWN_A).select(0, i).contiguousCopy(), at + ": down A");
            assertSameBytes(peftTensor(hf, e, "down_proj", "B").t().contiguousCopy(),
                    grouped.get(DOWN_B).select(0, i).contiguousCopy(), at + ": down B");
        }
    }

    @Test
    void eachRankGroupsExactlyItsExpertsAndTheRanksTogetherAreTheAdapter() {
        int experts = 8;
        Map<String, Tensor> hf = peft(experts);
        MoeStateDictAdapter adapter = adapter(experts);
        Map<String, Tensor> back = new LinkedHashMap<>();
        List<Integer> counts = new ArrayList<>();
        for (int rank = 0; rank < 3; rank++) {
            DeviceMesh ep = DeviceMesh.expertParallel(3, rank);
            ExpertRange range = adapter.expertRange(ep);
            counts.add(range.count());
            FromHfOptions options = FromHfOptions.defaults().withMesh(ep);
            Map<String, Tensor> grouped = adapter.fromHf(new LinkedHashMap<>(hf), options);
            assertEquals(List.of(GU_A, GU_B, DOWN_A, DOWN_B), List.copyOf(grouped.keySet()), "rank " + rank);
            assertGroupedForRange(hf, grouped, range, "rank " + rank);
            assertEquals(specs(grouped), sorted(adapter.planFromHf(specsByName(hf), options)), "plan of rank " + rank);
            back.putAll(adapter.toHf(grouped, ToHfOptions.defaults().withLocalExperts(range)));
        }
        assertEquals(List.of(3, 3, 2), counts);
        assertSameStateDict(hf, back);
    }

    @Test
    void aRankGivenOnlyItsOwnExpertsLoraGroupsThemAllTheSame() {
        Map<String, Tensor> hf = peft(8);
        Map<String, Tensor> own = new LinkedHashMap<>();
        hf.forEach((k, v) -> {
            int e = Integer.parseInt(k.substring(BASE.length(), k.indexOf('.', BASE.length())));
            if (e >= 6) {
                own.put(k, v);
            }
        });
        Map<String, Tensor> grouped = adapter(8).fromHf(own, FromHfOptions.defaults().withMesh(DeviceMesh.expertParallel(3, 2)));
        assertGroupedForRange(hf, grouped, new ExpertRange(6, 8), "rank 2 from its own LoRA");
    }

    @Test
    void paramWrapperLoraIsUnfoldedForTheRanksExpertsAndGathersBack() {
        int experts = 8;
        MoeStateDictAdapter adapter = adapter(experts);
        Map<String, Tensor> whole = adapter.fromHf(new LinkedHashMap<>(peft(experts)));
        Map<String, Tensor> folded = adapter.toHf(whole, ToHfOptions.defaults().withLoraFormat(LoraFormat.PARAM_WRAPPER));
        assertEquals(4, folded.size());
        Map<String, List<Tensor>> pieces = new LinkedHashMap<>();
        for (int rank = 0; rank < 3; rank++) {
            DeviceMesh ep = DeviceMesh.expertParallel(3, rank);
            ExpertRange range = adapter.expertRange(ep);
            FromHfOptions options = FromHfOptions.defaults().withMesh(ep);
            Map<String, Tensor> grouped = adapter.fromHf(new LinkedHashMap<>(folded), options);
            assertEquals(specs(grouped), sorted(adapter.planFromHf(specsByName(folded), options)), "plan of rank " + rank);
            // lora_A.weight [r·E, H]: expert e's rows are [e·r, (e+1)·r); lora_B.weight [I, r·E]: column k·E + e.
            Tensor downB = folded.get(BASE + "lora_A.weight");
            Tensor downA = folded.get(BASE + "lora_B.weight");
            for (int i = 0; i < range.count(); i++) {
                int e = range.start() + i;
                assertSameBytes(downB.narrow(0, e * R, R).contiguousCopy(),
                        grouped.get(DOWN_B).select(0, i).contiguousCopy(), "down B of expert " + e);
                for (long x = 0; x < I; x++) {
                    for (long k = 0; k < R; k++) {
                        assertEquals(downA.getDouble(x, k * experts + e), grouped.get(DOWN_A).getDouble(i, x, k),
                                "down A of expert " + e);
                    }
                }
            }
            grouped.forEach((k, v) -> pieces.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
        }
        Map<String, Tensor> gathered = new LinkedHashMap<>();
        pieces.forEach((k, v) -> gathered.put(k, TensorOps.cat(v, 0)));
        assertSameStateDict(whole, gathered);
        assertSameStateDict(folded,
                adapter.toHf(gathered, ToHfOptions.defaults().withLoraFormat(LoraFormat.PARAM_WRAPPER)));
    }

    @Test
    void aRankWithNoExpertsGetsNoLora() {
        int experts = 2;
        MoeStateDictAdapter adapter = adapter(experts);
        DeviceMesh empty = DeviceMesh.expertParallel(4, 3);
        assertEquals(0, adapter.expertRange(empty).count());
        Map<String, Tensor> hf = peft(experts);
        hf.put("model.norm.weight", TestTensors.random(99, DType.BF16, H));
        FromHfOptions options = FromHfOptions.defaults().withMesh(empty);
        assertEquals(List.of("model.norm.weight"), List.copyOf(adapter.fromHf(new LinkedHashMap<>(hf), options).keySet()));
        assertEquals(List.of("model.norm.weight"), List.copyOf(adapter.fromHfSharded(new LinkedHashMap<>(hf), options).keySet()));
        assertEquals(List.of("model.norm.weight"), adapter.planFromHf(specsByName(hf), options).stream().map(TensorSpec::name).toList());

        Map<String, Tensor> folded = adapter.toHf(adapter.fromHf(new LinkedHashMap<>(peft(experts))),
                ToHfOptions.defaults().withLoraFormat(LoraFormat.PARAM_WRAPPER));
        assertTrue(adapter.fromHf(new LinkedHashMap<>(folded), options).isEmpty());
        assertTrue(adapter.planFromHf(specsByName(folded), options).isEmpty());
        // Rank 1 of 4 holds expert 1 alone.
        assertGroupedForRange(peft(experts), adapter.fromHf(new LinkedHashMap<>(peft(experts)),
                FromHfOptions.defaults().withMesh(DeviceMesh.expertParallel(4, 1))), new ExpertRange(1, 2), "rank 1 of 4");
    }

    @Test
    void shardedLoraIsCutAlongTheExpertsAndSplitsIntoTheRanksPeftTensors() {
        int experts = 8;
        Map<String, Tensor> hf = peft(experts);
        MoeStateDictAdapter adapter = adapter(experts);
        DeviceMesh mesh = new DeviceMesh(List.of("ep", "ep_shard"), new int[] {3, 2}, new int[] {2, 1});
        Map<String, ShardedTensor> sharded = adapter.fromHfSharded(new LinkedHashMap<>(hf),
                FromHfOptions.defaults().withMesh(mesh));
        ShardedTensor downB = sharded.get(DOWN_B);
        assertEquals(List.of(Placement.shard(0), Placement.replicate()), downB.placements());
        assertArrayEquals(new long[] {experts, R, H}, downB.globalShape());
        assertArrayEquals(new long[] {2, R, H}, downB.local().sizes());
        assertEquals(new ExpertRange(6, 8), downB.localExperts(experts));

        Map<String, Tensor> local = new LinkedHashMap<>();
        sharded.forEach((k, v) -> local.put(k, v.local()));
        assertGroupedForRange(hf, local, new ExpertRange(6, 8), "ep rank 2 of 3");

        List<Map.Entry<String, Tensor>> plain = adapter.toHf(DOWN_B, downB, ToHfOptions.defaults());
        assertEquals(List.of(BASE + "6.down_proj.lora_B.weight", BASE + "7.down_proj.lora_B.weight"),
                plain.stream().map(Map.Entry::getKey).toList());
        for (Map.Entry<String, Tensor> e : plain) {
            assertSameBytes(hf.get(e.getKey()), e.getValue(), e.getKey());
        }
        List<Map.Entry<String, ShardedTensor>> perExpert = adapter.toHfSharded(GU_B, sharded.get(GU_B),
                ToHfOptions.defaults());
        assertEquals(4, perExpert.size());
        for (Map.Entry<String, ShardedTensor> e : perExpert) {
            assertEquals(List.of("ep_shard"), e.getValue().mesh().dimNames(), e.getKey());
            assertEquals(List.of(Placement.replicate()), e.getValue().placements(), e.getKey());
            assertArrayEquals(new long[] {I, R}, e.getValue().globalShape(), e.getKey());
            assertSameBytes(hf.get(e.getKey()), e.getValue().local(), e.getKey());
        }
    }

    private static List<TensorSpec> specs(Map<String, Tensor> tensors) {
        List<TensorSpec> out = new ArrayList<>();
        tensors.forEach((k, v) -> out.add(new TensorSpec(k, v.dtype(), v.sizes())));
        return sorted(out);
    }

    private static List<TensorSpec> sorted(List<TensorSpec> specs) {
        return specs.stream().sorted(Comparator.comparing(TensorSpec::name)).toList();
    }

    private static Map<String, TensorSpec> specsByName(Map<String, Tensor> tensors) {
        Map<String, TensorSpec> out = new LinkedHashMap<>();
        tensors.forEach((k, v) -> out.put(k, new TensorSpec(k, v.dtype(), v.sizes())));
        return out;
    }
}
