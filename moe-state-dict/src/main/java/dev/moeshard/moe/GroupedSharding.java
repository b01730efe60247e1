package dev.moeshard.moe;

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
 * experts on dimension 0. Kept FP8 grouped scales are cut along the experts only; every other tensor is replicated.
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
            if (Fp8GroupedScales.parse(adapter.naming(), key) != null) {
                out.put(key, expertsOnly(t, mesh, experts));
            } else if (adapter.layout().parse(adapter.naming(), key) != null && t.dim() >= 2) {
                out.put(key, ShardedTensor.forGroupedExperts(epShardPiece(key, t, mesh), mesh, experts));
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
        if (!mesh.hasDim("ep_shard") || mesh.size("ep_shard") == 1) {
            return local;
        }
        int n = mesh.size("ep_shard");
        if (local.size(1) % n != 0) {
            throw new IllegalArgumentException(key + ": dimension 1 of " + Arrays.toString(local.sizes())
                    + " does not split evenly over ep_shard of size " + n);
        }
        long piece = local.size(1) / n;
        return local.narrow(1, mesh.localRank("ep_shard") * piece, piece);
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
