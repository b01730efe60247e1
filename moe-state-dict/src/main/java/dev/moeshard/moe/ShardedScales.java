package dev.moeshard.moe;

import dev.moeshard.moe.ExpertNaming.ExpertKey;
import dev.moeshard.moe.ExpertNaming.GroupedKey;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.Placement;
import dev.moeshard.moe.parallel.ShardedTensor;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * FP8 scales cut with the {@code ep_shard} piece of the weight they scale, so that a rank dequantizes its local
 * weight with its local scales and gets exactly its slice of the whole dequantized weight.
 *
 * <p>Grouped block scales (DeepEP, the only layout that keeps them, {@link dev.moeshard.moe.quant.Fp8GroupedScales}):
 * {@code gate_and_up_projs} [E, H, 2I] under {@code Shard(1)} holds rows [k·H/n, (k+1)·H/n) of H on piece k, and its
 * scales [E, ⌈H/128⌉, 2I/128] hold one row per 128 of those rows:
 * <pre>
 *   weight rows   |--- piece 0 ---|--- piece 1 ---|        H/n a multiple of 128:
 *   scale rows    | b0 | b1 | ... | bj | ...      |        piece k has scale rows [k·H/(128n), (k+1)·H/(128n))
 * </pre>
 * A piece boundary inside a block would leave that block's scale to two ranks and start the second rank's block grid
 * off its row 0, which no block dequantizer reads right; such a mesh is refused, never approximated. The same holds for
 * {@code down_projs} [E, I, H] along I.
 *
 * <p>Per-expert {@code weight_scale} (compressed-tensors, ModelOpt) stays beside its per-expert weight: per-tensor
 * (one element) it is replicated; per-channel ([R] or [R, 1], one per row of the HF weight [R, C]) it is cut like
 * those rows when the grouped piece cuts them (a layout that keeps the HF orientation and does not fuse gate with up,
 * e.g. {@code grouped}'s {@code gate_projs} [E, I, H] under {@code Shard(1)}), and replicated when the piece cuts
 * columns (DeepEP's transposed tensors), where every local column still needs every row's scale. Where gate and up
 * share a fused axis that is cut, neither's rows are one piece of it; the per-channel scales then stay whole too.
 */
final class ShardedScales {
    private static final int BLOCK = Fp8BlockDequantizer.BLOCK;
    private static final String CHANNEL_SUFFIX = "_scale";

    private ShardedScales() {}

    /**
     * Grouped block scales [E_local, ⌈R/128⌉, ⌈C/128⌉] of key {@code key} as a sharded tensor with the placements of
     * their grouped weight [E_local, R, C], holding the scale rows of this rank's {@code ep_shard} piece of R.
     *
     * @throws IllegalArgumentException when the piece does not start and end on a 128-row block boundary
     */
    static ShardedTensor groupedBlockScales(String key, GroupedKey of, Tensor scales, DeviceMesh mesh,
                                            MoeConfig config) {
        // Dimension 1 of DeepEP's weights: H of gate_and_up_projs [E, H, 2I], I of down_projs [E, I, H].
        long rows = of.projection() == GroupedProjection.GATE_AND_UP_PROJS ? config.hidden() : config.intermediate();
        String weight = key.substring(0, key.length() - Fp8BlockDequantizer.SCALE_SUFFIX.length());
        long[] span = GroupedSharding.epShardSpan(weight, new long[] {scales.size(0), rows}, 1, mesh);
        Tensor local = scales;
        if (span[1] != rows) {
            if (span[1] % BLOCK != 0) {
                throw new IllegalArgumentException(key + ": ep_shard of size " + mesh.size("ep_shard") + " cuts"
                        + " dimension 1 of " + weight + " (" + rows + ") into pieces of " + span[1] + ", not a multiple"
                        + " of the FP8 block size " + BLOCK + ", so its block scales cannot be cut with it; choose an"
                        + " ep_shard size that leaves pieces of whole " + BLOCK + "-row blocks, or dequantize the experts"
                        + " (keepFp8 false)");
            }
            local = scales.narrow(1, span[0] / BLOCK, span[1] / BLOCK);
        }
        return ShardedTensor.forGroupedExperts(local, mesh, config.numExperts());
    }

    /** The per-expert weight whose per-tensor or per-channel scales {@code key} holds, or null when it is not such a key. */
    static ExpertKey perExpertWeightOf(ExpertNaming naming, String key) {
        if (!key.endsWith(".weight" + CHANNEL_SUFFIX)) {
            return null;
        }
        return naming.parsePerExpert(key.substring(0, key.length() - CHANNEL_SUFFIX.length()));
    }

    /**
     * The {@code weight_scale} {@code scale} of a per-expert weight of {@code projection} over the whole mesh: rows of
     * this rank's {@code ep_shard} piece, {@code Shard(0)} on {@code ep_shard}, when it is per-channel and the
     * grouped piece cuts the weight's rows; else replicated. All E experts' scales are on every rank, as
     * {@code fromHf} emits them, so {@code ep} is {@code Replicate}.
     */
    static ShardedTensor perExpertScales(String key, Projection projection, Tensor scale, DeviceMesh mesh,
                                         GroupedLayout layout, boolean gated) {
        List<Placement> placements = new ArrayList<>(mesh.ndim());
        for (int d = 0; d < mesh.ndim(); d++) {
            placements.add(Placement.replicate());
        }
        boolean cutsRows = !layout.transposes(projection) && !layout.narrows(projection, gated);
        boolean perChannel = scale.dim() >= 1 && scale.numel() > 1 && scale.numel() == scale.size(0);
        if (!cutsRows || !perChannel || !mesh.hasDim("ep_shard") || mesh.size("ep_shard") == 1) {
            return new ShardedTensor(scale.sizes(), mesh, placements, scale);
        }
        long[] span = GroupedSharding.epShardSpan(key, scale.sizes(), 0, mesh);
        placements.set(mesh.indexOf("ep_shard"), Placement.shard(0));
        return new ShardedTensor(scale.sizes(), mesh, placements, scale.narrow(0, span[0], span[1]));
    }
}
