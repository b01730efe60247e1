package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LongCat-Flash (8 routed experts, 2 identity experts, I 32, H 64) in the hf-v5 form transformers 5 holds it in:
 * {@code gate_up_proj} [E + Z, 2I, H] with the identity experts' rows after the routed ones, {@code down_proj}
 * [E, H, I], written from the HF checkpoint, read back by every job as the tensors they were.
 */
class LongCatHfV5Test {
    private static final Path IN = Fixtures.ROOT.resolve("families").resolve("longcat_flash");
    private static final int ROUTED = 8;
    private static final int IDENTITY = 2;
    private static final List<String> IDENTITY_KEYS = List.of(0, 1).stream().flatMap(l -> List.of(8, 9).stream()
            .flatMap(e -> List.of("gate_proj", "up_proj").stream()
                    .map(p -> "model.layers." + l + ".mlp.experts." + e + "." + p + ".weight"))).toList();

    private static Path hfV5(Path in, Path out) {
        MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withLayout(GroupedLayout.HF_V5));
        return out;
    }

    @Test
    void gateUpProjHoldsEveryRoutedAndIdentityExpertsGateThenUpRows(@TempDir Path dir) {
        Path out = hfV5(IN, dir.resolve("v5"));
        try (Checkpoint h = Checkpoint.open(IN); Checkpoint g = Checkpoint.open(out)) {
            for (int layer = 0; layer < 2; layer++) {
                String experts = "model.layers." + layer + ".mlp.experts.";
                assertArrayEquals(new long[] {ROUTED + IDENTITY, 64, 64}, g.entry(experts + "gate_up_proj").shape());
                assertArrayEquals(new long[] {ROUTED, 64, 32}, g.entry(experts + "down_proj").shape());
                MemorySegment gateUp = g.tensor(experts + "gate_up_proj").segment();
                long row = gateUp.byteSize() / (ROUTED + IDENTITY);
                for (int e = 0; e < ROUTED + IDENTITY; e++) {
                    MemorySegment gate = h.tensor(experts + e + ".gate_proj.weight").segment();
                    MemorySegment up = h.tensor(experts + e + ".up_proj.weight").segment();
                    assertEquals(-1, gateUp.asSlice(e * row, gate.byteSize()).mismatch(gate), "gate of " + e);
                    assertEquals(-1, gateUp.asSlice(e * row + gate.byteSize(), up.byteSize()).mismatch(up),
                            "up of " + e);
                }
            }
            for (String key : IDENTITY_KEYS) {
                assertFalse(g.contains(key), key + " lies inside gate_up_proj, not beside it");
            }
        }
    }

    @Test
    void toHfRestoresTheInputAndVerifyFindsItIdentical(@TempDir Path dir) {
        Path out = hfV5(IN, dir.resolve("v5"));
        VerifyReport verified = MoeConvert.verify(VerifyRequest.of(IN, List.of(out)));
        assertTrue(verified.identical(), verified.differences().toString());
        Path back = dir.resolve("back");
        MoeConvert.toHf(ToHfRequest.of(List.of(out), back));
        CheckpointFiles.assertSameTensors(IN, back);
        InspectReport inspected = MoeConvert.inspect(out);
        assertTrue(inspected.valid(), inspected.problems().toString());
        assertEquals(ROUTED, inspected.numExperts());
        try (Checkpoint h = Checkpoint.open(IN)) {
            // as the file lists them: the input's tensors less the 8 identity ones inside gate_up_proj, and each
            // layer's 24 expert tensors become 2
            int expected = h.keys().size() - IDENTITY_KEYS.size() - 2 * (3 * ROUTED - 2);
            assertEquals(expected, inspected.tensors());
            assertEquals(java.util.Map.of("BF16", expected), inspected.dtypes());
        }
    }

    /**
     * The form is also what transformers 5 writes with {@code save_original_format=False}: such a checkpoint (here
     * the hf-v5 output without the manifest that marks it grouped) converts as the HF checkpoint it came from.
     */
    @Test
    void aTransformersV5CheckpointConvertsAsItsPerExpertOriginal(@TempDir Path dir) throws IOException {
        Path v5 = hfV5(IN, dir.resolve("v5"));
        Files.delete(v5.resolve(GroupedManifest.FILE_NAME));
        Path fromV5 = dir.resolve("from-v5");
        MoeConvert.toGrouped(ToGroupedRequest.of(v5, fromV5).withRanks(RankSelection.all(3)));
        Path fromHf = dir.resolve("from-hf");
        MoeConvert.toGrouped(ToGroupedRequest.of(IN, fromHf).withRanks(RankSelection.all(3)));
        for (int rank = 0; rank < 3; rank++) {
            CheckpointFiles.assertSameTensors(fromHf.resolve("ep-rank-" + rank), fromV5.resolve("ep-rank-" + rank));
        }
        Path regrouped = dir.resolve("regrouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(hfV5(IN, dir.resolve("v5-again")), regrouped));
        Path deepep = dir.resolve("deepep");
        MoeConvert.toGrouped(ToGroupedRequest.of(IN, deepep));
        CheckpointFiles.assertSameTensors(deepep, regrouped);
    }

    /** Converted to another dtype, the identity rows are converted with the routed ones: F32 of each BF16 value. */
    @Test
    void theIdentityRowsTakeTheDtypeOfTheRoutedOnes(@TempDir Path dir) {
        Path out = dir.resolve("v5-f32");
        MoeConvert.toGrouped(ToGroupedRequest.of(IN, out).withLayout(GroupedLayout.HF_V5)
                .withDtype(dev.moeshard.tensor.DType.F32));
        try (Checkpoint h = Checkpoint.open(IN); Checkpoint g = Checkpoint.open(out)) {
            Tensor gateUp = g.tensor("model.layers.1.mlp.experts.gate_up_proj");
            assertEquals(dev.moeshard.tensor.DType.F32, gateUp.dtype());
            for (int e = ROUTED; e < ROUTED + IDENTITY; e++) {
                Tensor gate = h.tensor("model.layers.1.mlp.experts." + e + ".gate_proj.weight");
                Tensor up = h.tensor("model.layers.1.mlp.experts." + e + ".up_proj.weight");
                for (long i = 0; i < gate.size(0); i += 7) {
                    for (long c = 0; c < gate.size(1); c += 5) {
                        assertEquals(gate.getDouble(i, c), gateUp.getDouble(e, i, c), "gate " + e);
                        assertEquals(up.getDouble(i, c), gateUp.getDouble(e, gate.size(0) + i, c), "up " + e);
                    }
                }
            }
        }
    }

    /** A checkpoint that never saved the identity experts' rows gets zeros there, and says so. */
    @Test
    void identityRowsTheInputLacksAreZeros(@TempDir Path dir) throws IOException {
        Path in = dir.resolve("in");
        Files.createDirectories(in);
        for (String file : List.of("model.safetensors", "config.json")) {
            Files.copy(IN.resolve(file), in.resolve(file));
        }
        CheckpointFiles.removeTensors(in, IDENTITY_KEYS);
        Path out = dir.resolve("v5");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withLayout(GroupedLayout.HF_V5));
        assertTrue(report.decisions().stream().anyMatch(d -> d.contains("8 of their tensors the input lacks written as zeros")),
                report.decisions().toString());
        try (Checkpoint g = Checkpoint.open(out)) {
            MemorySegment gateUp = g.tensor("model.layers.1.mlp.experts.gate_up_proj").segment();
            long routed = gateUp.byteSize() / (ROUTED + IDENTITY) * ROUTED;
            MemorySegment zeros = MemorySegment.ofArray(new byte[(int) (gateUp.byteSize() - routed)]);
            assertEquals(-1, gateUp.asSlice(routed).mismatch(zeros));
        }
    }

    /**
     * The identity rows follow the last routed expert in one checkpoint of the whole model: expert-parallel ranks in
     * hf-v5 are refused before anything is written, saying what to use.
     */
    @Test
    void expertParallelRanksInHfV5AreRefused(@TempDir Path dir) {
        Path ranks = dir.resolve("ranks");
        InvalidInputException ep = assertThrows(InvalidInputException.class, () -> MoeConvert.toGrouped(
                ToGroupedRequest.of(IN, ranks).withLayout(GroupedLayout.HF_V5).withRanks(RankSelection.all(2))));
        assertEquals(List.of("--layout hf-v5: longcat_flash's 2 identity experts lie in gate_up_proj after the routed"
                + " ones ([E + Z, 2I, H] = [10, 64, 64]), which is written for a whole model only: drop --ep-size, or"
                + " use --layout deepep, grouped or vllm for expert-parallel ranks"), ep.problems());
        assertFalse(Files.exists(ranks));
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(IN, grouped).withRanks(RankSelection.all(3)));
        Path out = dir.resolve("out");
        InvalidInputException regroup = assertThrows(InvalidInputException.class, () -> MoeConvert.toGrouped(
                ToGroupedRequest.of(grouped, out).withLayout(GroupedLayout.HF_V5).withRanks(RankSelection.all(2))));
        assertEquals(ep.problems(), regroup.problems());
        assertFalse(Files.exists(out));
    }

    /** Expert-parallel ranks regrouped into one hf-v5 checkpoint are what to-grouped writes from the HF checkpoint. */
    @Test
    void ranksRegroupedIntoHfV5AreTheDirectConversion(@TempDir Path dir) {
        Path ranks = dir.resolve("ranks");
        MoeConvert.toGrouped(ToGroupedRequest.of(IN, ranks).withLayout(GroupedLayout.VLLM)
                .withRanks(RankSelection.all(3)));
        Path regrouped = dir.resolve("regrouped");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(ranks, regrouped)
                .withLayout(GroupedLayout.HF_V5));
        assertTrue(report.decisions().stream().anyMatch(d -> d.contains("written inside gate_up_proj")),
                report.decisions().toString());
        Path direct = hfV5(IN, dir.resolve("direct"));
        CheckpointFiles.assertSameTensors(direct, regrouped);
        try (Checkpoint a = Checkpoint.open(direct); Checkpoint b = Checkpoint.open(regrouped)) {
            assertEquals(a.keys(), b.keys());
        }
    }
}
