package dev.moeshard.moe.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ExpertRangeTest {

    @Test
    void eightExpertsOnThreeRanksAreThreeThreeTwo() {
        assertEquals(new ExpertRange(0, 3), ExpertRange.forRank(0, 3, 8));
        assertEquals(new ExpertRange(3, 6), ExpertRange.forRank(1, 3, 8));
        assertEquals(new ExpertRange(6, 8), ExpertRange.forRank(2, 3, 8));
    }

    @Test
    void evenSplit() {
        assertEquals(new ExpertRange(2, 4), ExpertRange.forRank(1, 4, 8));
    }

    @Test
    void rangesPartitionExpertsForEveryCountAndWorldSize() {
        for (int experts = 0; experts <= 40; experts++) {
            for (int world = 1; world <= 9; world++) {
                int next = 0;
                for (int rank = 0; rank < world; rank++) {
                    ExpertRange r = ExpertRange.forRank(rank, world, experts);
                    assertEquals(next, r.start(), experts + " on " + world + ", rank " + rank);
                    assertTrue(r.count() == experts / world || r.count() == experts / world + 1);
                    next = r.end();
                }
                assertEquals(experts, next);
            }
        }
    }

    @Test
    void withoutMeshEveryExpertIsLoaded() {
        assertEquals(new ExpertRange(0, 8), ExpertRange.forMesh(null, 8));
    }

    @Test
    void meshEpDimensionPartitionsExperts() {
        DeviceMesh mesh = new DeviceMesh(List.of("dp", "ep"), new int[] {2, 3}, new int[] {1, 0});
        assertEquals(new ExpertRange(0, 3), ExpertRange.forMesh(mesh, 8));
        assertEquals(new ExpertRange(0, 3), ExpertRange.forMesh(DeviceMesh.expertParallel(3, 0), 8));
    }

    @Test
    void meshWithoutEpDimensionUsesTheWholeMesh() {
        DeviceMesh mesh = DeviceMesh.of1d("dp_shard_cp", 4, 2);
        assertEquals(new ExpertRange(4, 6), ExpertRange.forMesh(mesh, 8));
    }

    @Test
    void shouldLoadExpertIsStartInclusiveEndExclusive() {
        ExpertRange r = ExpertRange.forMesh(DeviceMesh.expertParallel(4, 1), 8);
        assertTrue(r.contains(2));
        assertTrue(r.contains(3));
        assertFalse(r.contains(4));
        assertFalse(r.contains(1));
        var adapter = new dev.moeshard.moe.MoeStateDictAdapter(new dev.moeshard.moe.MoeConfig(8, 4, 2, true),
                dev.moeshard.moe.ExpertNaming.DEFAULT);
        assertTrue(adapter.shouldLoadExpert(3, DeviceMesh.expertParallel(4, 1)));
        assertFalse(adapter.shouldLoadExpert(5, DeviceMesh.expertParallel(4, 1)));
        assertTrue(adapter.shouldLoadExpert(7, null));
    }

    @Test
    void rejectsRankOutsideGroup() {
        assertThrows(IllegalArgumentException.class, () -> ExpertRange.forRank(3, 3, 8));
        assertThrows(IllegalArgumentException.class, () -> DeviceMesh.expertParallel(3, 3));
    }
}
