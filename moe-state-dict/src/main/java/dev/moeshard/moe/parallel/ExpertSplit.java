package dev.moeshard.moe.parallel;

import dev.moeshard.tensor.Tensor;
import java.util.List;

/**
 * A grouped expert tensor [E, ...] split into per-expert views [...] of the experts this rank holds.
 *
 * @param expertIds global id of each view, ascending
 * @param experts the views, aliasing the grouped tensor's storage
 * @param mesh for a sharded input whose other mesh dimensions still partition the experts' data, the mesh without
 *     the expert-partitioning dimension; null when the views are plain local tensors
 * @param placements the placements that go with {@code mesh} ({@code Shard(d)} shifted to {@code Shard(d-1)});
 *     empty when {@code mesh} is null
 */
public record ExpertSplit(List<Integer> expertIds, List<Tensor> experts, DeviceMesh mesh, List<Placement> placements) {

    public ExpertSplit {
        expertIds = List.copyOf(expertIds);
        experts = List.copyOf(experts);
        placements = List.copyOf(placements);
        if (expertIds.size() != experts.size()) {
            throw new IllegalArgumentException(expertIds.size() + " expert ids for " + experts.size() + " experts");
        }
    }

    public int size() {
        return experts.size();
    }

    /** Whether each expert is still a shard of a larger tensor (see {@link #sharded(int)}). */
    public boolean isSharded() {
        return mesh != null;
    }

    /** Expert {@code i} as a sharded tensor over {@link #mesh()}; only when {@link #isSharded()}. */
    public ShardedTensor sharded(int i) {
        if (mesh == null) {
            throw new IllegalStateException("the experts of this split are plain local tensors, not shards");
        }
        Tensor local = experts.get(i);
        long[] global = local.sizes();
        for (int d = 0; d < placements.size(); d++) {
            if (placements.get(d) instanceof Placement.Shard s) {
                global[s.dim()] = local.size(s.dim()) * mesh.sizes()[d];
            }
        }
        return new ShardedTensor(global, mesh, placements, local);
    }
}
