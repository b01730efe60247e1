package dev.moeshard.moe.parallel;

import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/** Splits grouped expert tensors [E, ...] into per-expert views, and checks that they are sharded as expected. */
public final class ExpertSplitter {
    private ExpertSplitter() {}

    /** Views of every expert of a plain grouped tensor, whose first dimension must be {@code numExperts}. */
    public static ExpertSplit split(Tensor grouped, int numExperts) {
        if (grouped.dim() == 0 || grouped.size(0) != numExperts) {
            throw new IllegalArgumentException("Expected first dimension to be " + numExperts + ", got "
                    + (grouped.dim() == 0 ? "a scalar" : grouped.size(0)));
        }
        return splitLocal(grouped, ExpertRange.all(numExperts), null, List.of());
    }

    /**
     * Views of the experts this rank holds of a sharded grouped tensor, with their global ids. The mesh dimension
     * that partitions experts is removed; other {@code Shard(d)} placements become {@code Shard(d-1)} (a second
     * {@code Shard(0)} becomes {@code Replicate}). When no remaining mesh dimension is larger than 1, the views
     * are plain local tensors.
     */
    public static ExpertSplit split(ShardedTensor grouped, int numExperts) {
        ExpertRange range = grouped.localExperts(numExperts);
        Tensor local = grouped.local();
        if (local.dim() == 0 || local.size(0) != range.count()) {
            throw new IllegalArgumentException("Expected local tensor first dimension to be " + range.count()
                    + " (experts " + range.start() + ":" + range.end() + "), got "
                    + (local.dim() == 0 ? "a scalar" : local.size(0)));
        }
        OptionalInt expertDim = grouped.expertMeshDim();
        DeviceMesh remaining = grouped.mesh();
        List<Placement> template = new ArrayList<>(grouped.placements());
        if (expertDim.isPresent()) {
            remaining = remaining.without(expertDim.getAsInt());
            template.remove(expertDim.getAsInt());
        }
        boolean stillSharded = false;
        for (int s : remaining.sizes()) {
            stillSharded |= s > 1;
        }
        if (!stillSharded) {
            return splitLocal(local, range, null, List.of());
        }
        List<Placement> shifted = new ArrayList<>(template.size());
        for (Placement p : template) {
            if (p instanceof Placement.Shard s && s.dim() > 0) {
                shifted.add(Placement.shard(s.dim() - 1));
            } else if (p instanceof Placement.Shard) {
                shifted.add(Placement.replicate());
            } else {
                shifted.add(p);
            }
        }
        return splitLocal(local, range, remaining, shifted);
    }

    /**
     * Checks that a plain grouped tensor holds {@code expectedExperts} experts.
     *
     * @throws IllegalArgumentException "{name} has shape 6 experts, expected 8"
     */
    public static void validate(Tensor grouped, int expectedExperts, String name) {
        if (grouped.size(0) != expectedExperts) {
            throw new IllegalArgumentException(name + " has shape " + grouped.size(0) + " experts, expected "
                    + expectedExperts);
        }
    }

    /**
     * Checks that a sharded grouped tensor has {@code expectedExperts} experts globally and that its experts are
     * partitioned the way expert parallelism understands: {@code Shard(0)} on its expert mesh dimension (as grouped
     * outputs of an {@code ep} × {@code ep_shard} mesh have, {@code [Shard(0), Shard(1)]}), else a last placement of
     * {@code Shard(0)} or {@code Replicate}.
     */
    public static void validate(ShardedTensor grouped, int expectedExperts, String name) {
        if (grouped.globalShape()[0] != expectedExperts) {
            throw new IllegalArgumentException(name + " global shape has " + grouped.globalShape()[0]
                    + " experts, expected " + expectedExperts);
        }
        List<Placement> placements = grouped.placements();
        OptionalInt expertDim = grouped.expertMeshDim();
        if (expertDim.isPresent() && placements.get(expertDim.getAsInt()).isExpertShard()) {
            return;
        }
        Placement last = placements.isEmpty() ? null : placements.get(placements.size() - 1);
        if (last != null && (last.isExpertShard() || last instanceof Placement.Replicate)) {
            return;
        }
        throw new IllegalArgumentException(name + " has unsupported DTensor placement: " + (last == null ? "None" : last)
                + ". Expected Shard(dim=0) or Replicate for expert parallelism.");
    }

    private static ExpertSplit splitLocal(Tensor local, ExpertRange range, DeviceMesh mesh, List<Placement> placements) {
        List<Tensor> views = new ArrayList<>(range.count());
        for (int i = 0; i < range.count(); i++) {
            views.add(local.select(0, i));
        }
        return new ExpertSplit(range.ids(), views, mesh, placements);
    }
}
