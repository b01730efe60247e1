package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Expert LoRA through to-grouped under {@code --ep-size 3 --all-ranks} and back: each rank's checkpoint holds the LoRA
 * of exactly its experts (8 experts on 3 ranks: 3 / 3 / 2), read from only their input tensors, and to-hf of all
 * ranks restores the adapter byte for byte. PEFT adapters on the qwen3_moe fixture's shapes (E = 8, H = 64, I = 32),
 * LoRA rank 4, layers 0 and 1.
 */
class ExpertParallelLoraTest {
    private static final int E = 8;
    private static final int RANKS = 3;
    private static final long H = 64;
    private static final long I = 32;
    private static final long R = 4;
    private static final String P = "base_model.model.model.layers.";

    @Test
    void eachRankHoldsTheLoraOfItsExpertsAndAllRanksRestoreTheAdapter(@TempDir Path dir) throws IOException {
        Path in = perExpertAdapter(dir.resolve("in"), true);
        Path out = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withRanks(RankSelection.all(RANKS)));
        try (Checkpoint hf = Checkpoint.open(in)) {
            for (int rank = 0; rank < RANKS; rank++) {
                ExpertRange range = ExpertRange.forRank(rank, RANKS, E);
                try (Checkpoint grouped = Checkpoint.open(out.resolve("ep-rank-" + rank))) {
                    for (int layer = 0; layer < 2; layer++) {
                        assertRankLora(hf, grouped, layer, range, "rank " + rank + ", layer " + layer);
                    }
                    assertArrayEquals(new long[] {range.count(), H, 2 * I},
                            grouped.entry("model.layers.0.mlp.experts.gate_and_up_projs").shape());
                }
            }
        }
        assertTrue(MoeConvert.verify(VerifyRequest.of(in, List.of(out))).identical());
        Path back = dir.resolve("back");
        MoeConvert.toHf(ToHfRequest.of(List.of(out), back));
        CheckpointFiles.assertSameTensors(in, back);
    }

    @Test
    void aRankReadsTheLoraOfItsOwnExpertsOnly(@TempDir Path dir) throws IOException {
        Path in = perExpertAdapter(dir.resolve("in"), false);
        long loraBytes;
        try (Checkpoint c = Checkpoint.open(in)) {
            loraBytes = c.keys().stream().mapToLong(k -> c.entry(k).byteSize()).sum();
        }
        ConversionPlan plan = MoeConvert.planToGrouped(ToGroupedRequest.of(in, dir.resolve("out"))
                .withRanks(RankSelection.all(RANKS)));
        assertEquals(RANKS, plan.units().size());
        for (int rank = 0; rank < RANKS; rank++) {
            long share = loraBytes / E * ExpertRange.forRank(rank, RANKS, E).count();
            assertEquals(share, plan.units().get(rank).readBytes(), "rank " + rank);
        }
        // One rank alone writes the same tensors as that rank of all of them.
        Path one = dir.resolve("one");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, one).withRanks(RankSelection.one(RANKS, 2)));
        Path all = dir.resolve("all");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, all).withRanks(RankSelection.all(RANKS)));
        Path rank2 = Files.isDirectory(one.resolve("ep-rank-2")) ? one.resolve("ep-rank-2") : one;
        CheckpointFiles.assertSameTensors(all.resolve("ep-rank-2"), rank2);
    }

    @Test
    void paramWrapperLoraIsUnfoldedPerRankAndFoldedBackFromAllRanks(@TempDir Path dir) throws IOException {
        Path in = paramWrapperAdapter(dir.resolve("in"));
        Path out = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withRanks(RankSelection.all(RANKS)));
        try (Checkpoint hf = Checkpoint.open(in)) {
            for (int rank = 0; rank < RANKS; rank++) {
                ExpertRange range = ExpertRange.forRank(rank, RANKS, E);
                try (Checkpoint grouped = Checkpoint.open(out.resolve("ep-rank-" + rank))) {
                    // lora_A.weight [r·E, H] is lora_down_B [E, r, H] folded: expert e's rows are [e·r, (e+1)·r).
                    Tensor downB = grouped.tensor(P + "1.mlp.experts.lora_down_B");
                    assertArrayEquals(new long[] {range.count(), R, H}, downB.sizes(), "rank " + rank);
                    assertSameBytes(hf.tensor(P + "1.mlp.experts.lora_A.weight").narrow(0, range.start() * R,
                            range.count() * R), downB.reshape(-1, H), "rank " + rank + " down B");
                    assertArrayEquals(new long[] {range.count(), H, R},
                            grouped.entry(P + "0.mlp.experts.lora_gate_and_up_A").shape(), "rank " + rank);
                }
            }
        }
        assertTrue(MoeConvert.verify(VerifyRequest.of(in, List.of(out))).identical());
        Path back = dir.resolve("back");
        MoeConvert.toHf(ToHfRequest.of(List.of(out), back).withLora(ToHfOptions.LoraFormat.PARAM_WRAPPER));
        CheckpointFiles.assertSameTensors(in, back);
    }

    @Test
    void regroupingOntoOtherRanksMovesEachExpertsLoraWithIt(@TempDir Path dir) throws IOException {
        Path in = perExpertAdapter(dir.resolve("in"), true);
        Path three = dir.resolve("three");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, three).withRanks(RankSelection.all(RANKS)));
        Path two = dir.resolve("two");
        MoeConvert.toGrouped(ToGroupedRequest.of(three, two).withRanks(RankSelection.all(2)));
        try (Checkpoint hf = Checkpoint.open(in); Checkpoint rank1 = Checkpoint.open(two.resolve("ep-rank-1"))) {
            assertRankLora(hf, rank1, 1, new ExpertRange(4, 8), "rank 1 of 2, from ranks 1 and 2 of 3");
        }
        Path back = dir.resolve("back");
        MoeConvert.toHf(ToHfRequest.of(List.of(two), back));
        CheckpointFiles.assertSameTensors(in, back);
    }

    @Test
    void ranksWrittenWithTheLoraWholeAreRefusedNamingTheShape(@TempDir Path dir) throws IOException {
        Path in = perExpertAdapter(dir.resolve("in"), true);
        Path out = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withRanks(RankSelection.all(RANKS)));
        // As if written by an older version that kept the LoRA whole on every rank.
        String key = P + "0.mlp.experts.lora_down_A";
        Tensor whole;
        try (Checkpoint hf = Checkpoint.open(in)) {
            whole = Tensor.allocate(DType.BF16, E, I, R);
            for (int e = 0; e < E; e++) {
                whole.select(0, e).copyFrom(hf.tensor(P + "0.mlp.experts." + e + ".down_proj.lora_A.weight").t());
            }
        }
        CheckpointFiles.changeTensor(out.resolve("ep-rank-1"), key, t -> whole);
        InvalidInputException e = org.junit.jupiter.api.Assertions.assertThrows(InvalidInputException.class,
                () -> MoeConvert.toHf(ToHfRequest.of(List.of(out), dir.resolve("back"))));
        assertTrue(e.problems().stream().anyMatch(p -> p.contains("ep-rank-1") && p.contains(key)
                && p.contains("[8, 32, 4]") && p.contains("expected 3 experts")), e.getMessage());
        assertFalse(Files.exists(dir.resolve("back")));
    }

    /** The grouped LoRA of one layer on a rank, by its formula for the experts of {@code range}. */
    private static void assertRankLora(Checkpoint hf, Checkpoint grouped, int layer, ExpertRange range, String where) {
        String x = P + layer + ".mlp.experts.";
        Tensor guA = grouped.tensor(x + "lora_gate_and_up_A");
        Tensor guB = grouped.tensor(x + "lora_gate_and_up_B");
        Tensor downA = grouped.tensor(x + "lora_down_A");
        Tensor downB = grouped.tensor(x + "lora_down_B");
        assertArrayEquals(new long[] {range.count(), H, R}, guA.sizes(), where);
        assertArrayEquals(new long[] {range.count(), R, 2 * I}, guB.sizes(), where);
        assertArrayEquals(new long[] {range.count(), I, R}, downA.sizes(), where);
        assertArrayEquals(new long[] {range.count(), R, H}, downB.sizes(), where);
        for (int i = 0; i < range.count(); i++) {
            String e = x + (range.start() + i) + ".";
            String at = where + ", expert " + (range.start() + i);
            assertSameBytes(hf.tensor(e + "gate_proj.lora_A.weight").t(), guA.select(0, i), at + " gate/up A");
            assertSameBytes(hf.tensor(e + "gate_proj.lora_B.weight").t(), guB.select(0, i).narrow(1, 0, I), at + " gate B");
            assertSameBytes(hf.tensor(e + "up_proj.lora_B.weight").t(), guB.select(0, i).narrow(1, I, I), at + " up B");
            assertSameBytes(hf.tensor(e + "down_proj.lora_A.weight").t(), downA.select(0, i), at + " down A");
            assertSameBytes(hf.tensor(e + "down_proj.lora_B.weight").t(), downB.select(0, i), at + " down B");
        }
    }

    private static void assertSameBytes(Tensor want, Tensor got, String what) {
        assertEquals(want.dtype(), got.dtype(), what);
        assertArrayEquals(want.sizes(), got.sizes(), what);
        assertEquals(-1, want.contiguousCopy().segment().mismatch(got.contiguousCopy().segment()), what);
    }

    /** A PEFT per-expert adapter (up's A equal to gate's, as the grouped layout needs), beside the base weights or not. */
    private static Path perExpertAdapter(Path dir, boolean withBase) throws IOException {
        Random random = new Random(17);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        if (withBase) {
            try (Checkpoint base = Checkpoint.open(Fixtures.of("qwen3_moe"))) {
                base.keys().forEach(k -> tensors.put(k, base.tensor(k).contiguousCopy()));
            }
        }
        for (int layer = 0; layer < 2; layer++) {
            for (int e = 0; e < E; e++) {
                String x = P + layer + ".mlp.experts." + e + ".";
                Tensor a = random(random, R, H);
                tensors.put(x + "gate_proj.lora_A.weight", a);
                tensors.put(x + "gate_proj.lora_B.weight", random(random, I, R));
                tensors.put(x + "up_proj.lora_A.weight", a.contiguousCopy());
                tensors.put(x + "up_proj.lora_B.weight", random(random, I, R));
                tensors.put(x + "down_proj.lora_A.weight", random(random, R, I));
                tensors.put(x + "down_proj.lora_B.weight", random(random, H, R));
            }
        }
        return write(dir, tensors);
    }

    /** A PEFT ParamWrapper adapter of fused experts, the expert axis folded into the LoRA rank. */
    private static Path paramWrapperAdapter(Path dir) throws IOException {
        Random random = new Random(23);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (int layer = 0; layer < 2; layer++) {
            String x = P + layer + ".mlp.experts.";
            tensors.put(x + "lora_A.weight", random(random, R * E, H));
            tensors.put(x + "lora_B.weight", random(random, I, R * E));
            tensors.put(x + "base_layer.lora_A.weight", random(random, R * E, 2 * I));
            tensors.put(x + "base_layer.lora_B.weight", random(random, H, R * E));
        }
        return write(dir, tensors);
    }

    private static Path write(Path dir, Map<String, Tensor> tensors) throws IOException {
        Files.createDirectories(dir);
        ShardedCheckpointWriter.write(dir, tensors, Long.MAX_VALUE, Map.of("format", "pt"));
        Files.copy(Fixtures.of("qwen3_moe").resolve("config.json"), dir.resolve("config.json"));
        return dir;
    }

    /** Finite BF16 values of random sign and mantissa, exponents near 1. */
    private static Tensor random(Random random, long rows, long cols) {
        Tensor t = Tensor.allocate(DType.BF16, rows, cols);
        for (long i = 0; i < rows * cols; i++) {
            short bits = (short) ((random.nextInt(2) << 15) | ((120 + random.nextInt(8)) << 7) | random.nextInt(128));
            t.segment().setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, bits);
        }
        return t;
    }
}
