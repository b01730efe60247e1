package dev.moeshard.moe.parallel;

import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;

/**
 * One rank's part of a tensor spread over a {@link DeviceMesh} (the reference's DTensor): the global shape, the
 * mesh, one {@link Placement} per mesh dimension, and the local tensor this rank holds.
 */
public record ShardedTensor(long[] globalShape, DeviceMesh mesh, List<Placement> placements, Tensor local) {

    public ShardedTensor {
        globalShape = globalShape.clone();
        placements = List.copyOf(placements);
        if (placements.size() != mesh.ndim()) {
            throw new IllegalArgumentException("a sharded tensor needs one placement per mesh dimension: mesh "
                    + mesh + ", placements " + placements);
        }
        if (globalShape.length != local.dim()) {
            throw new IllegalArgumentException("global shape " + Arrays.toString(globalShape)
                    + " and local shape " + Arrays.toString(local.sizes()) + " differ in rank");
        }
    }

    /**
     * A grouped expert tensor built on this rank for {@code mesh}, whose dimensions may only be {@code ep},
     * {@code ep_shard} and {@code ep_replicate}: {@code ep} gets {@code Shard(0)}; {@code ep_shard} gets
     * {@code Shard(1)} and {@code ep_replicate} {@code Replicate}, both only when one of them is larger than 1
     * (otherwise those dimensions are dropped from the result's mesh).
     */
    public static ShardedTensor forGroupedExperts(Tensor local, DeviceMesh mesh, int numExperts) {
        for (String name : mesh.dimNames()) {
            if (!name.equals("ep") && !name.equals("ep_shard") && !name.equals("ep_replicate")) {
                throw new IllegalArgumentException("Expected mesh dimension names to contain only 'ep', 'ep_shard', "
                        + "'ep_replicate', got " + mesh.dimNames());
            }
        }
        boolean epSharded = (mesh.hasDim("ep_shard") && mesh.size("ep_shard") > 1)
                || (mesh.hasDim("ep_replicate") && mesh.size("ep_replicate") > 1);
        List<String> kept = new ArrayList<>();
        List<Placement> placements = new ArrayList<>();
        long[] global = local.sizes();
        for (String name : mesh.dimNames()) {
            switch (name) {
                case "ep" -> {
                    kept.add(name);
                    placements.add(Placement.shard(0));
                    global[0] = numExperts;
                }
                case "ep_shard" -> {
                    if (epSharded) {
                        kept.add(name);
                        placements.add(Placement.shard(1));
                        global[1] = local.size(1) * mesh.size(name);
                    }
                }
                default -> {
                    if (epSharded) {
                        kept.add(name);
                        placements.add(Placement.replicate());
                    }
                }
            }
        }
        return new ShardedTensor(global, mesh.submesh(kept), placements, local);
    }

    /**
     * The mesh dimension that partitions the experts axis: the one named {@code ep}, else the first with
     * {@code Shard(0)}; empty when every rank keeps all experts.
     */
    public OptionalInt expertMeshDim() {
        if (mesh.hasDim("ep")) {
            return OptionalInt.of(mesh.indexOf("ep"));
        }
        for (int d = 0; d < placements.size(); d++) {
            if (placements.get(d).isExpertShard()) {
                return OptionalInt.of(d);
            }
        }
        return OptionalInt.empty();
    }

    /** The global experts whose data lies in {@link #local()}, out of {@code numExperts}. */
    public ExpertRange localExperts(int numExperts) {
        OptionalInt dim = expertMeshDim();
        if (dim.isEmpty() || !placements.get(dim.getAsInt()).isExpertShard()) {
            return ExpertRange.all(numExperts);
        }
        String name = mesh.dimNames().get(dim.getAsInt());
        return ExpertRange.forRank(mesh.localRank(name), mesh.size(name), numExperts);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ShardedTensor s && Arrays.equals(globalShape, s.globalShape) && mesh.equals(s.mesh)
                && placements.equals(s.placements) && local == s.local;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(globalShape) * 31 + mesh.hashCode() * 17 + placements.hashCode();
    }

    @Override
    public String toString() {
        return "ShardedTensor(global " + Arrays.toString(globalShape) + ", " + mesh + ", " + placements + ", local "
                + local + ")";
    }
}
