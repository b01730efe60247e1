package dev.moeshard.moe.quant;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.ExpertNaming.ExpertKey;
import dev.moeshard.moe.GroupedProjection;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Gathers the per-expert {@code weight_scale_inv} tensors of one rank into grouped scales
 * ({@link Fp8GroupedScales}) and hands each grouped scale tensor back the moment its last expert's scales arrive.
 * The scales are 1/16384 of the weights, so holding a layer's open group costs nothing worth streaming.
 */
public final class Fp8ScaleGrouper {
    private final MoeConfig config;
    private final ExpertNaming naming;
    private final ExpertRange range;
    private final Map<String, Tensor> open = new HashMap<>();
    private final Map<String, Integer> missing = new HashMap<>();

    public Fp8ScaleGrouper(MoeConfig config, ExpertNaming naming, ExpertRange range) {
        this.config = config;
        this.naming = naming;
        this.range = range;
    }

    /** The per-expert weight whose scales {@code key} holds, or null when {@code key} is no expert scale key. */
    public ExpertKey parse(String key) {
        if (!key.endsWith(Fp8BlockDequantizer.SCALE_SUFFIX)) {
            return null;
        }
        return naming.parsePerExpert(key.substring(0, key.length() - Fp8BlockDequantizer.SCALE_SUFFIX.length()));
    }

    /**
     * Adds the scales of expert weight {@code k}; returns the grouped scale key and tensor when this completes it,
     * else null. Experts outside the range and gates of non-gated models are ignored.
     */
    public Map.Entry<String, Tensor> add(ExpertKey k, String key, Tensor scales) {
        if (!range.contains(k.expert()) || (k.projection() == Projection.GATE && !config.gated())) {
            return null;
        }
        GroupedProjection g = Fp8GroupedScales.groupOf(k.projection());
        String groupedKey = Fp8GroupedScales.keyOf(naming, k.prefix(), k.layer(), k.projection());
        Tensor grouped = open.computeIfAbsent(groupedKey,
                x -> Tensor.allocate(DType.F32, Fp8GroupedScales.shape(g, range.count(), config)));
        Tensor slot = Fp8GroupedScales.slot(grouped, k.expert() - range.start(), k.projection(), config);
        if (!Arrays.equals(slot.t().sizes(), scales.sizes())) {
            throw new IllegalArgumentException(key + ": scales of shape " + Arrays.toString(scales.sizes())
                    + ", expected " + Arrays.toString(slot.t().sizes()) + " (one per 128x128 block)");
        }
        slot.copyFrom(scales.t());
        int parts = Fp8GroupedScales.parts(g, config).size();
        int left = missing.merge(groupedKey, range.count() * parts, (a, b) -> a) - 1;
        missing.put(groupedKey, left);
        if (left > 0) {
            return null;
        }
        missing.remove(groupedKey);
        return Map.entry(groupedKey, open.remove(groupedKey));
    }
}
