package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which of a layer's expert copies can be built in a buffer and written whole, and in what batches. */
class StagedBatchesTest {
    private static final long E = 4;
    private static final long H = 6;
    private static final long I = 5;
    private static final long SLAB = H * 2 * I * 2; // one expert of gate_and_up_projs [E, H, 2I], BF16

    private final Tensor gateAndUp = Tensor.allocate(DType.BF16, E, H, 2 * I);
    private final Tensor downProjs = Tensor.allocate(DType.BF16, E, I, H);

    /** Expert e's gate, up and down slots in HF orientation, as the DeepEP layout maps them. */
    private List<Tensor> slots(long e) {
        Tensor slab = gateAndUp.select(0, e);
        return List.of(slab.narrow(1, 0, I).t(), slab.narrow(1, I, I).t(), downProjs.select(0, e).t());
    }

    private List<Tensor> allSlots() {
        List<Tensor> targets = new ArrayList<>();
        for (long e = 0; e < E; e++) {
            targets.addAll(slots(e));
        }
        return targets;
    }

    @Test
    void interleavedGateAndUpSlotsCoverTheirExpertsSlabAndAdjacentSlabsShareABatch() {
        StagedBatches.Split split = StagedBatches.split(allSlots(), List.of(gateAndUp, downProjs), 2 * SLAB);
        assertEquals(List.of(), split.direct());
        List<String> batches = split.batches().stream()
                .map(b -> (b.grouped() == gateAndUp ? "gu" : "down") + b.start() + "-" + b.end() + b.members())
                .toList();
        long down = I * H * 2;
        assertEquals(List.of(
                "gu0-" + 2 * SLAB + "[0, 1, 3, 4]",
                "gu" + 2 * SLAB + "-" + 4 * SLAB + "[6, 7, 9, 10]",
                "down0-" + 4 * down + "[2, 5, 8, 11]"), batches);
        assertEquals(2 * SLAB, split.largestBatch());
    }

    @Test
    void aSlabWithASlotMissingIsLeftToTheDirectCopyAndSplitsTheRunAroundIt() {
        List<Tensor> targets = new ArrayList<>(allSlots());
        targets.set(3, Tensor.allocate(DType.BF16, I, H)); // expert 1's gate slot filled beforehand: not a target
        StagedBatches.Split split = StagedBatches.split(targets, List.of(gateAndUp, downProjs), Long.MAX_VALUE);
        assertEquals(List.of(3, 4), split.direct(), "the foreign tensor, and expert 1's up slot beside its gap");
        List<String> gateAndUpBatches = split.batches().stream().filter(b -> b.grouped() == gateAndUp)
                .map(b -> b.start() + "-" + b.end()).toList();
        assertEquals(List.of("0-" + SLAB, 2 * SLAB + "-" + 4 * SLAB), gateAndUpBatches);
    }

    @Test
    void aBatchLargerThanTheLimitIsKeptWholeAndNeverSplitInsideASlab() {
        StagedBatches.Split split = StagedBatches.split(slots(2), List.of(gateAndUp, downProjs), 1);
        assertEquals(List.of(), split.direct());
        assertEquals(2, split.batches().size());
        assertEquals(2 * SLAB, split.batches().get(0).start());
        assertEquals(3 * SLAB, split.batches().get(0).end());
    }

    @Test
    void aTargetOfAnotherDtypeOrEmptyGoesToTheDirectCopy() {
        Tensor asBytes = Tensor.strided(gateAndUp.storage(), DType.U8, 0, new long[] {SLAB}, new long[] {1});
        Tensor empty = gateAndUp.narrow(1, 0, 0);
        StagedBatches.Split split = StagedBatches.split(List.of(asBytes, empty), List.of(gateAndUp), Long.MAX_VALUE);
        assertEquals(List.of(0, 1), split.direct());
        assertEquals(List.of(), split.batches());
    }
}
