package dev.moeshard.moe.parallel;

import static dev.moeshard.moe.testing.TensorAssertions.assertSameBytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.moe.testing.TestTensors;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

class ExpertSplitterTest {

    @Test
    void plainTensorSplitsIntoViewsOfEveryExpert() {
        Tensor w = TestTensors.random(1, DType.F32, 4, 16, 32);
        ExpertSplit split = ExpertSplitter.split(w, 4);
        assertEquals(List.of(0, 1, 2, 3), split.expertIds());
        for (int i = 0; i < 4; i++) {
            assertSame(w.storage(), split.experts().get(i).storage());
            assertSameBytes(w.select(0, i).contiguousCopy(), split.experts().get(i), "expert " + i);
        }
        assertFalse(split.isSharded());
    }

    @Test
    void plainTensorWithWrongExpertCount() {
        Tensor w = Tensor.allocate(DType.F32, 6, 4, 4);
        var e = assertThrows(IllegalArgumentException.class, () -> ExpertSplitter.split(w, 8));
        assertEquals("Expected first dimension to be 8, got 6", e.getMessage());
    }

    @Test
    void epShardedTensorYieldsLocalExpertsWithGlobalIds() {
        Tensor local = TestTensors.random(2, DType.BF16, 2, 8, 6);
        ShardedTensor t = new ShardedTensor(new long[] {8, 8, 6}, DeviceMesh.expertParallel(4, 1),
                List.of(Placement.shard(0)), local);
        ExpertSplit split = ExpertSplitter.split(t, 8);
        assertEquals(List.of(2, 3), split.expertIds());
        assertFalse(split.isSharded());
        assertSame(local.storage(), split.experts().get(1).storage());
    }

    @Test
    void localShapeThatDoesNotMatchTheRankRange() {
        ShardedTensor t = new ShardedTensor(new long[] {8, 4}, DeviceMesh.expertParallel(2, 0),
                List.of(Placement.shard(0)), Tensor.allocate(DType.F32, 3, 4));
        var e = assertThrows(IllegalArgumentException.class, () -> ExpertSplitter.split(t, 8));
        assertTrue(e.getMessage().startsWith("Expected local tensor first dimension to be 4"), e.getMessage());
    }

    @Test
    void replicatedTensorKeepsEveryExpert() {
        ShardedTensor t = new ShardedTensor(new long[] {8, 4}, DeviceMesh.of1d("dp", 2, 1),
                List.of(Placement.replicate()), Tensor.allocate(DType.F32, 8, 4));
        ExpertSplit split = ExpertSplitter.split(t, 8);
        assertEquals(8, split.size());
        assertEquals(0, split.expertIds().get(0));
        // dp stays a dimension larger than 1, so each expert is still a sharded tensor, replicated over it.
        assertTrue(split.isSharded());
        assertEquals(List.of(Placement.replicate()), split.placements());
    }

    @Test
    void epFreeFsdpShardOnExpertsAxis() {
        ShardedTensor t = new ShardedTensor(new long[] {8, 4}, DeviceMesh.of1d("dp_shard_cp", 4, 2),
                List.of(Placement.shard(0)), Tensor.allocate(DType.F32, 2, 4));
        assertEquals(new ExpertRange(4, 6), t.localExperts(8));
        assertEquals(List.of(4, 5), ExpertSplitter.split(t, 8).expertIds());
    }

    @Test
    void innerShardMovesDownOneDimension() {
        DeviceMesh mesh = new DeviceMesh(List.of("ep", "ep_shard"), new int[] {2, 2}, new int[] {1, 0});
        ShardedTensor t = new ShardedTensor(new long[] {8, 16, 6}, mesh,
                List.of(Placement.shard(0), Placement.shard(1)), Tensor.allocate(DType.F32, 4, 8, 6));
        ExpertSplit split = ExpertSplitter.split(t, 8);
        assertEquals(List.of(4, 5, 6, 7), split.expertIds());
        assertTrue(split.isSharded());
        assertEquals(List.of("ep_shard"), split.mesh().dimNames());
        assertEquals(List.of(Placement.shard(0)), split.placements());
        ShardedTensor expert = split.sharded(0);
        assertEquals(16, expert.globalShape()[0]);
    }

    @Test
    void validationMessages() {
        ExpertSplitter.validate(Tensor.allocate(DType.F32, 8, 2), 8, "test_tensor");
        var plain = assertThrows(IllegalArgumentException.class,
                () -> ExpertSplitter.validate(Tensor.allocate(DType.F32, 6, 2), 8, "test_tensor"));
        assertEquals("test_tensor has shape 6 experts, expected 8", plain.getMessage());

        ShardedTensor good = new ShardedTensor(new long[] {8, 2}, DeviceMesh.expertParallel(2, 0),
                List.of(Placement.shard(0)), Tensor.allocate(DType.F32, 4, 2));
        ExpertSplitter.validate(good, 8, "test_tensor");
        ShardedTensor wrongCount = new ShardedTensor(new long[] {6, 2}, DeviceMesh.expertParallel(2, 0),
                List.of(Placement.shard(0)), Tensor.allocate(DType.F32, 3, 2));
        var global = assertThrows(IllegalArgumentException.class, () -> ExpertSplitter.validate(wrongCount, 8, "test_tensor"));
        assertEquals("test_tensor global shape has 6 experts, expected 8", global.getMessage());
        ShardedTensor innerShard = new ShardedTensor(new long[] {8, 2}, DeviceMesh.of1d("dp", 2, 0),
                List.of(Placement.shard(1)), Tensor.allocate(DType.F32, 8, 1));
        var placement = assertThrows(IllegalArgumentException.class, () -> ExpertSplitter.validate(innerShard, 8, "test_tensor"));
        assertEquals("test_tensor has unsupported DTensor placement: Shard(dim=1). "
                + "Expected Shard(dim=0) or Replicate for expert parallelism.", placement.getMessage());
    }

    @Test
    void groupedOutputPlacementsFollowTheMesh() {
        Tensor local = Tensor.allocate(DType.F32, 4, 3, 2);
        ShardedTensor epOnly = ShardedTensor.forGroupedExperts(local, DeviceMesh.expertParallel(2, 1), 8);
        assertEquals(List.of(Placement.shard(0)), epOnly.placements());
        assertEquals(8, epOnly.globalShape()[0]);

        DeviceMesh trivialShard = new DeviceMesh(List.of("ep", "ep_shard", "ep_replicate"), new int[] {2, 1, 1}, new int[] {0, 0, 0});
        assertEquals(List.of("ep"), ShardedTensor.forGroupedExperts(local, trivialShard, 8).mesh().dimNames());

        DeviceMesh sharded = new DeviceMesh(List.of("ep", "ep_shard", "ep_replicate"), new int[] {2, 2, 1}, new int[] {0, 1, 0});
        assertEquals(List.of(Placement.shard(0), Placement.shard(1), Placement.replicate()),
                ShardedTensor.forGroupedExperts(local, sharded, 8).placements());

        var e = assertThrows(IllegalArgumentException.class,
                () -> ShardedTensor.forGroupedExperts(local, DeviceMesh.of1d("dp", 2, 0), 8));
        assertTrue(e.getMessage().contains("Expected mesh dimension names to contain only 'ep', 'ep_shard', 'ep_replicate'"));
    }
}
