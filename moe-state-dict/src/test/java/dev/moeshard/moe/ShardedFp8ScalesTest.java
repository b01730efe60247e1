package dev.moeshard.moe;

import static dev.moeshard.moe.testing.TensorAssertions.assertSameBytes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.moe.parallel.Placement;
import dev.moeshard.moe.parallel.ShardedTensor;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.moe.testing.TestTensors;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * FP8 scales travel with the {@code ep_shard} piece of their weight: a rank dequantizing its local weight with its
 * local scales gets exactly its slice of the whole dequantized weight, and a piece that would cut a 128×128 block is
 * refused. E = 4 on {@code ep} 2 × {@code ep_shard} 2.
 */
class ShardedFp8ScalesTest {
    static final int E = 4;
    static final String P = "model.layers.0.mlp.experts.";
    static final String GU = P + "gate_and_up_projs";
    static final String DOWN = P + "down_projs";
    static final String SCALES = Fp8BlockDequantizer.SCALE_SUFFIX;

    static DeviceMesh mesh(int ep, int epShard) {
        return new DeviceMesh(List.of("ep", "ep_shard"), new int[] {2, 2}, new int[] {ep, epShard});
    }

    /** Block-quantized FP8 experts with one 128×128 scale per block, and a norm. */
    static Map<String, Tensor> blockFp8(MoeConfig config) {
        Map<String, Tensor> hf = new LinkedHashMap<>();
        hf.put("model.layers.0.input_layernorm.weight", TestTensors.random(1, DType.BF16, config.hidden()));
        long seed = 10;
        for (int e = 0; e < E; e++) {
            for (Projection p : Projection.values()) {
                long rows = p == Projection.DOWN ? config.hidden() : config.intermediate();
                long cols = p == Projection.DOWN ? config.intermediate() : config.hidden();
                String key = ExpertNaming.DEFAULT.perExpertKey("model.", 0, e, p);
                hf.put(key, TestTensors.random(seed++, DType.F8_E4M3, rows, cols));
                hf.put(key + SCALES, TestTensors.random(seed++, DType.F32, Fp8BlockDequantizer.scaleShape(rows, cols)));
            }
        }
        return hf;
    }

    static FromHfOptions keep(DeviceMesh mesh) {
        return FromHfOptions.defaults().withMesh(mesh).withKeepFp8(true);
    }

    static Tensor dequantized(Tensor weight, Tensor scales) {
        return Fp8BlockDequantizer.dequantize(weight, scales, DType.F32, "test");
    }

    @Test
    void localBlockScalesDequantizeTheLocalPieceToItsSliceOfTheWhole() {
        MoeConfig config = new MoeConfig(E, 256, 256, true);
        MoeStateDictAdapter adapter = new MoeStateDictAdapter(config, ExpertNaming.DEFAULT);
        Map<String, Tensor> hf = blockFp8(config);
        for (int ep = 0; ep < 2; ep++) {
            // The rank's experts whole, as fromHf builds them for the ep mesh alone.
            Map<String, Tensor> whole = adapter.fromHf(new LinkedHashMap<>(hf), keep(DeviceMesh.expertParallel(2, ep)));
            for (int piece = 0; piece < 2; piece++) {
                String where = "ep " + ep + ", ep_shard " + piece;
                Map<String, ShardedTensor> sharded = adapter.fromHfSharded(new LinkedHashMap<>(hf), keep(mesh(ep, piece)));
                for (String key : List.of(GU, DOWN)) {
                    ShardedTensor weight = sharded.get(key);
                    ShardedTensor scales = sharded.get(key + SCALES);
                    assertEquals(weight.placements(), scales.placements(), where + ": " + key);
                    assertEquals(List.of(Placement.shard(0), Placement.shard(1)), scales.placements(), where);
                    assertArrayEquals(new long[] {E, 2, key.equals(GU) ? 4 : 2}, scales.globalShape(),
                            where + ": " + key + " scales");
                    assertEquals(1, scales.local().size(1), where + ": one scale row per 128 weight rows");
                    for (int i = 0; i < 2; i++) {
                        Tensor all = dequantized(whole.get(key).select(0, i), whole.get(key + SCALES).select(0, i));
                        Tensor local = dequantized(weight.local().select(0, i), scales.local().select(0, i));
                        assertSameBytes(all.narrow(0, piece * 128L, 128).contiguousCopy(), local,
                                where + ": " + key + " expert " + (2 * ep + i));
                    }
                }
            }
        }
    }

    @Test
    void toHfOfTheShardedPairGivesEachExpertsShardedWeightAndScales() {
        MoeConfig config = new MoeConfig(E, 256, 256, true);
        MoeStateDictAdapter adapter = new MoeStateDictAdapter(config, ExpertNaming.DEFAULT);
        Map<String, Tensor> hf = blockFp8(config);
        int piece = 1;
        Map<String, ShardedTensor> sharded = adapter.fromHfSharded(new LinkedHashMap<>(hf), keep(mesh(1, piece)));
        Map<String, ShardedTensor> perExpert = new LinkedHashMap<>();
        for (String key : List.of(GU, GU + SCALES, DOWN, DOWN + SCALES)) {
            adapter.toHfSharded(key, sharded.get(key), ToHfOptions.defaults())
                    .forEach(e -> perExpert.put(e.getKey(), e.getValue()));
        }
        assertEquals(2 * 3 * 2, perExpert.size());
        for (int e = 2; e < 4; e++) {
            for (Projection p : Projection.values()) {
                String key = ExpertNaming.DEFAULT.perExpertKey("model.", 0, e, p);
                ShardedTensor weight = perExpert.get(key);
                ShardedTensor scales = perExpert.get(key + SCALES);
                // DeepEP's transpose carries Shard(1) of the grouped tensor to the HF columns: [R, C] under Shard(1).
                assertEquals(List.of(Placement.shard(1)), weight.placements(), key);
                assertEquals(weight.placements(), scales.placements(), key);
                assertEquals(weight.mesh(), scales.mesh(), key);
                assertArrayEquals(hf.get(key).sizes(), weight.globalShape(), key);
                assertArrayEquals(hf.get(key + SCALES).sizes(), scales.globalShape(), key);
                assertSameBytes(hf.get(key).narrow(1, piece * 128L, 128).contiguousCopy(),
                        weight.local().contiguousCopy(), key + " local weight");
                assertSameBytes(hf.get(key + SCALES).narrow(1, piece, 1).contiguousCopy(),
                        scales.local().contiguousCopy(), key + " local scales");
                assertSameBytes(dequantized(hf.get(key), hf.get(key + SCALES)).narrow(1, piece * 128L, 128)
                        .contiguousCopy(), dequantized(weight.local(), scales.local()), key + " dequantized");
            }
        }
        // The plain split of the same pair: local pieces of the rank's experts.
        List<Map.Entry<String, Tensor>> plain = adapter.toHf(DOWN + SCALES, sharded.get(DOWN + SCALES),
                ToHfOptions.defaults());
        assertEquals(List.of(P + "2.down_proj.weight" + SCALES, P + "3.down_proj.weight" + SCALES),
                plain.stream().map(Map.Entry::getKey).toList());
        assertSameBytes(hf.get(P + "3.down_proj.weight" + SCALES).narrow(1, piece, 1).contiguousCopy(),
                plain.get(1).getValue(), "down scales of expert 3");
    }

    @Test
    void aPieceThatCutsABlockIsRefusedNamingTheTensorAndTheBlockSize() {
        // I = 128: down_projs [E, I, H] cut in two along I gives pieces of 64 rows, half a block.
        MoeConfig config = new MoeConfig(E, 256, 128, true);
        MoeStateDictAdapter adapter = new MoeStateDictAdapter(config, ExpertNaming.DEFAULT);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> adapter.fromHfSharded(new LinkedHashMap<>(blockFp8(config)), keep(mesh(0, 1))));
        assertTrue(e.getMessage().contains(DOWN + SCALES) && e.getMessage().contains("pieces of 64")
                && e.getMessage().contains("block size 128"), e.getMessage());
        // Without ep_shard the same experts are cut along the experts only.
        Map<String, ShardedTensor> ep = adapter.fromHfSharded(new LinkedHashMap<>(blockFp8(config)),
                keep(DeviceMesh.expertParallel(2, 1)));
        assertEquals(List.of(Placement.shard(0)), ep.get(DOWN + SCALES).placements());
        assertArrayEquals(new long[] {E, 1, 2}, ep.get(DOWN + SCALES).globalShape());
        assertEquals(new ExpertRange(2, 4), ep.get(DOWN + SCALES).localExperts(E));
    }

    /** FP8 experts with a per-channel {@code weight_scale} [R] (compressed-tensors) and a per-tensor input scale. */
    static Map<String, Tensor> perChannelFp8(MoeConfig config) {
        Map<String, Tensor> hf = new LinkedHashMap<>();
        long seed = 200;
        for (int e = 0; e < E; e++) {
            for (Projection p : Projection.values()) {
                long rows = p == Projection.DOWN ? config.hidden() : config.intermediate();
                long cols = p == Projection.DOWN ? config.intermediate() : config.hidden();
                String key = ExpertNaming.DEFAULT.perExpertKey("model.", 0, e, p);
                hf.put(key, TestTensors.random(seed++, DType.F8_E4M3, rows, cols));
                hf.put(key + "_scale", TestTensors.random(seed++, DType.F32, rows));
                hf.put(key.replace(".weight", ".input_scale"), TestTensors.random(seed++, DType.F32, 1));
            }
        }
        return hf;
    }

    /** weight [R, C] times its per-row scale [R], in F64. */
    static Tensor perRow(Tensor weight, Tensor scale) {
        Tensor out = Tensor.allocate(DType.F64, weight.sizes());
        for (long r = 0; r < weight.size(0); r++) {
            for (long c = 0; c < weight.size(1); c++) {
                out.setDouble(weight.getDouble(r, c) * scale.getDouble(r), r, c);
            }
        }
        return out;
    }

    @Test
    void perChannelScalesAreCutWithTheRowsTheirPieceHoldsAndKeptWholeWhereItHoldsColumns() {
        MoeConfig config = new MoeConfig(E, 8, 6, true);
        Map<String, Tensor> hf = perChannelFp8(config);
        String gate3 = ExpertNaming.DEFAULT.perExpertKey("model.", 0, 3, Projection.GATE);
        int piece = 1;
        // grouped keeps HF orientation: gate_projs [E, I, H] under Shard(1) holds rows of I, and so do their scales.
        MoeStateDictAdapter grouped = new MoeStateDictAdapter(config, ExpertNaming.DEFAULT, GroupedLayout.GROUPED);
        Map<String, ShardedTensor> g = grouped.fromHfSharded(new LinkedHashMap<>(hf),
                FromHfOptions.defaults().withMesh(mesh(1, piece)));
        ShardedTensor scale = g.get(gate3 + "_scale");
        assertEquals(List.of(Placement.replicate(), Placement.shard(0)), scale.placements());
        assertArrayEquals(new long[] {6}, scale.globalShape());
        assertSameBytes(hf.get(gate3 + "_scale").narrow(0, 3, 3).contiguousCopy(), scale.local().contiguousCopy(),
                "gate 3 scales, rows of piece 1");
        Tensor localGate = g.get(P + "gate_projs").local().select(0, 1);
        assertSameBytes(perRow(hf.get(gate3), hf.get(gate3 + "_scale")).narrow(0, 3, 3).contiguousCopy(),
                perRow(localGate, scale.local()), "gate 3 dequantized with its local scales");
        ShardedTensor input = g.get(gate3.replace(".weight", ".input_scale"));
        assertEquals(List.of(Placement.replicate(), Placement.replicate()), input.placements(), "per-tensor");

        // DeepEP's gate_and_up_projs [E, H, 2I] under Shard(1) holds columns of gate [I, H]: every row's scale stays.
        MoeStateDictAdapter deepep = new MoeStateDictAdapter(config, ExpertNaming.DEFAULT);
        Map<String, ShardedTensor> d = deepep.fromHfSharded(new LinkedHashMap<>(hf),
                FromHfOptions.defaults().withMesh(mesh(1, piece)));
        ShardedTensor whole = d.get(gate3 + "_scale");
        assertEquals(List.of(Placement.replicate(), Placement.replicate()), whole.placements());
        assertSameBytes(hf.get(gate3 + "_scale"), whole.local(), "gate 3 scales, whole");
        Tensor localColumns = d.get(P + "gate_and_up_projs").local().select(0, 1).narrow(1, 0, 6).t();
        assertSameBytes(perRow(hf.get(gate3), hf.get(gate3 + "_scale")).narrow(1, 4, 4).contiguousCopy(),
                perRow(localColumns, whole.local()), "gate 3 columns dequantized with every row's scale");
    }
}
