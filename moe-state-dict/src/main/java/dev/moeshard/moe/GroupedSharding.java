package dev.moeshard.moe;

import dev.moeshard.moe.ExpertNaming.ExpertKey;
import dev.moeshard.moe.ExpertNaming.GroupedKey;
import dev.moeshard.moe.lora.LoraExpertSuffix;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.Placement;
import dev.moeshard.moe.parallel.ShardedTensor;
import dev.moeshard.moe.quant.Fp8GroupedScales;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Wraps what {@code fromHf} emits for one rank of a mesh as sharded tensors (the reference's DTensors), with the
 * placements of DESIGN.md section 2: grouped expert tensors [E_local, ...] get {@code ep} → {@code Shard(0)} and, when
 * {@code ep_shard} or {@code ep_replicate} is larger than 1, {@code ep_shard} → {@code Shard(1)} and
 * {@code ep_replicate} → {@code Replicate} (see {@link ShardedTensor#forGroupedExperts}); their global shape has all E
 * experts on dimension 0. Kept FP8 grouped block scales get their weight's placements and the scale rows of its
 * {@code ep_shard} piece, per-channel scales of per-expert weights the rows of theirs where the piece cuts the
 * weight's rows ({@link ShardedScales}). Grouped expert LoRA [E_local, ...] is cut along the experts only
 * ({@code ep} → {@code Shard(0)}, {@code Replicate} elsewhere: it is r/H the size of the experts, and a LoRA rank r
 * is not cut). Every other tensor is replicated.
 */
final class GroupedSharding {
    private GroupedSharding() {}

    static void requireExpertMesh(DeviceMesh mesh) {
        if (mesh == null || !mesh.hasDim("ep")) {
            throw new IllegalArgumentException("sharded grouped tensors need a device mesh with an 'ep' dimension, got "
                    + (mesh == null ? "no mesh" : mesh) + "; pass FromHfOptions.withMesh(...)");
        }
    }

    static Map<String, ShardedTensor> shard(Map<String, Tensor> grouped, DeviceMesh mesh, MoeStateDictAdapter adapter) {
        requireExpertMesh(mesh);
        int experts = adapter.config().numExperts();
        Map<String, ShardedTensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : grouped.entrySet()) {
            String key = e.getKey();
            Tensor t = e.getValue();
            ExpertKey scaled = ShardedScales.perExpertWeightOf(adapter.naming(), key);
            GroupedKey blockScaled = Fp8GroupedScales.parse(adapter.naming(), key);
            if (blockScaled != null) {
                out.put(key, ShardedScales.groupedBlockScales(key, blockScaled, t, mesh, adapter.config()));
            } else if (adapter.layout().parse(adapter.naming(), key) != null && t.dim() >= 2) {
                out.put(key, ShardedTensor.forGroupedExperts(epShardPiece(key, t, mesh), mesh, experts));
            } else if (LoraExpertSuffix.of(key, adapter.naming().segment()) != null && t.dim() >= 1) {
                out.put(key, expertsOnly(t, mesh, experts));
            } else if (scaled != null) {
                out.put(key, ShardedScales.perExpertScales(key, scaled.projection(), t, mesh, adapter.layout(),
                        adapter.config().gated()));
            } else {
                out.put(key, new ShardedTensor(t.sizes(), mesh,
                        Collections.nCopies(mesh.ndim(), Placement.replicate()), t));
            }
        }
        return out;
    }

    /**
     * This rank's piece along dimension 1 when {@code ep_shard} will be {@code Shard(1)}: fromHf builds the rank's
     * experts whole, and a {@code Shard(1)} placement over them would claim a global size {@code ep_shard} times too
     * large.
     */
    private static Tensor epShardPiece(String key, Tensor local, DeviceMesh mesh) {
        long[] span = epShardSpan(key, local.sizes(), 1, mesh);
        return span[1] == local.size(1) ? local : local.narrow(1, span[0], span[1]);
    }

    /**
     * Where this rank's {@code ep_shard} piece of dimension {@code dim} of a tensor of {@code sizes} lies, as
     * {start, length}: the whole dimension when the mesh has no {@code ep_shard} larger than 1.
     *
     * @throws IllegalArgumentException when the dimension does not split evenly
     */
    static long[] epShardSpan(String key, long[] sizes, int dim, DeviceMesh mesh) {
        if (!mesh.hasDim("ep_shard") || mesh.size("ep_shard") == 1) {
            return new long[] {0, sizes[dim]};
        }
        int n = mesh.size("ep_shard");
        if (sizes[dim] % n != 0) {
            throw new IllegalArgumentException(key + ": dimension " + dim + " of " + Arrays.toString(sizes)
                    + " does not split evenly over ep_shard of size " + n);
        }
        long piece = sizes[dim] / n;
        return new long[] {mesh.localRank("ep_shard") * piece, piece};
    }

    /** {@code ep} → {@code Shard(0)}, every other dimension {@code Replicate}; all E experts on dimension 0. */
    private static ShardedTensor expertsOnly(Tensor local, DeviceMesh mesh, int experts) {
        List<Placement> placements = new ArrayList<>(mesh.ndim());
        for (String name : mesh.dimNames()) {
            placements.add(name.equals("ep") ? Placement.shard(0) : Placement.replicate());
        }
        long[] global = local.sizes();
        global[0] = experts;
        return new ShardedTensor(global, mesh, placements, local);
    }
}
