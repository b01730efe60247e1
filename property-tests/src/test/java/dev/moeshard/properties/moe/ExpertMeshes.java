package dev.moeshard.properties.moe;

import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.properties.harness.Gen;
import java.util.List;

/** Meshes whose {@code ep} dimension has W ranks, seen from one of them, in the shapes callers build. */
final class ExpertMeshes {
    private ExpertMeshes() {}

    /**
     * Rank {@code rank} of W along {@code ep}: a plain expert-parallel mesh, or one with a data-parallel dimension
     * beside it (which must not change the experts a rank owns); for W = 1 also no mesh at all.
     */
    static DeviceMesh random(Gen gen, int world, int rank) {
        if (world == 1 && gen.chance(0.3)) {
            return null;
        }
        if (gen.chance(0.25)) {
            int dp = gen.between(1, 3);
            return new DeviceMesh(List.of("dp_shard_cp", "ep"), new int[] {dp, world},
                    new int[] {gen.between(0, dp - 1), rank});
        }
        return DeviceMesh.expertParallel(world, rank);
    }
}
