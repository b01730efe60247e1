package dev.moeshard.moe.quant;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.ExpertNaming.GroupedKey;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.GroupedProjection;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.Projection;
import dev.moeshard.tensor.Tensor;
import java.util.List;

/**
 * Block scales of FP8 experts grouped without dequantizing ({@code --dtype keep-fp8}). A per-expert weight [R, C]
 * has scales [⌈R/128⌉, ⌈C/128⌉]; the grouped tensor holds its transpose [C, R], whose 128×128 blocks are the
 * transposed blocks, so its scales are the transposed scales. Side by side in {@code gate_and_up_projs}:
 * <pre>
 *   per expert    gate [I, H]  scales [⌈I/128⌉, ⌈H/128⌉]      up [I, H]  scales [⌈I/128⌉, ⌈H/128⌉]
 *   grouped       [H, 2I] = [gateᵀ | upᵀ]     scales [⌈H/128⌉, 2I/128] = [gate scalesᵀ | up scalesᵀ]
 *   down          [H, I] → [I, H] = downᵀ     scales [⌈I/128⌉, ⌈H/128⌉] = down scalesᵀ
 * </pre>
 * The seam at column I falls on a block boundary only when I is a multiple of 128; otherwise the last gate block
 * and the first up block would share one grouped block with two different scales, so a gated model with such an I
 * is refused ({@link #refusal}). Every grouped element then meets exactly the scale its per-expert element had, and
 * dequantizing the grouped tensor gives exactly the dequantized per-expert tensors.
 */
public final class Fp8GroupedScales {
    private static final int BLOCK = Fp8BlockDequantizer.BLOCK;

    private Fp8GroupedScales() {}

    /** The key of the scales of grouped tensor {@code groupedKey}: {@code groupedKey + "_scale_inv"}. */
    public static String keyOf(String groupedKey) {
        return groupedKey + Fp8BlockDequantizer.SCALE_SUFFIX;
    }

    /**
     * The key of the grouped scales that hold those of {@code projection} of layer {@code layer}:
     * {@code {prefix}layers.{layer}.{seg}.gate_and_up_projs_scale_inv} for gate and up, {@code down_projs_scale_inv}
     * for down.
     */
    public static String keyOf(ExpertNaming naming, String prefix, int layer, Projection projection) {
        return keyOf(naming.groupedKey(prefix, layer, groupOf(projection)));
    }

    /** The grouped tensor that holds {@code projection}: {@code down_projs} for down, else {@code gate_and_up_projs}. */
    public static GroupedProjection groupOf(Projection projection) {
        return projection == Projection.DOWN ? GroupedProjection.DOWN_PROJS : GroupedProjection.GATE_AND_UP_PROJS;
    }

    /** The projections whose scales the grouped scales of {@code projection} hold: gate only when gated. */
    public static List<Projection> parts(GroupedProjection projection, MoeConfig config) {
        if (projection == GroupedProjection.DOWN_PROJS) {
            return List.of(Projection.DOWN);
        }
        return config.gated() ? List.of(Projection.GATE, Projection.UP) : List.of(Projection.UP);
    }

    /** The grouped tensor {@code key} holds the scales of, parsed; null when it is no grouped scale key. */
    public static GroupedKey parse(ExpertNaming naming, String key) {
        if (!key.endsWith(Fp8BlockDequantizer.SCALE_SUFFIX)) {
            return null;
        }
        return naming.parseGrouped(key.substring(0, key.length() - Fp8BlockDequantizer.SCALE_SUFFIX.length()));
    }

    /**
     * Why {@code config}'s experts cannot be grouped as FP8 in {@code layout}, or null when they can. The grouped scales
     * are the transposed block grid of DeepEP's {@code gate_and_up_projs} [E, H, 2I] and {@code down_projs} [E, I, H]
     * and named after them, so no other layout can hold them.
     */
    public static String refusal(MoeConfig config, GroupedLayout layout) {
        if (layout != GroupedLayout.DEEPEP) {
            return "FP8 experts are kept only in the " + GroupedLayout.DEEPEP.cliName() + " layout, whose grouped"
                    + " scales are the transposed block grid of gate_and_up_projs and down_projs; write --layout "
                    + GroupedLayout.DEEPEP.cliName() + ", or dequantize (--dtype keep or bf16)";
        }
        if (config.gated() && config.intermediate() % BLOCK != 0) {
            return "the expert intermediate size " + config.intermediate() + " is not a multiple of the FP8 block size "
                    + BLOCK + ", so gate and up blocks cannot line up at the seam of gate_and_up_projs; dequantize "
                    + "instead (--dtype keep or bf16)";
        }
        return null;
    }

    /** The shape of the grouped scales of {@code projection} for {@code experts} experts. */
    public static long[] shape(GroupedProjection projection, long experts, MoeConfig config) {
        long h = Math.ceilDiv(config.hidden(), BLOCK);
        long i = Math.ceilDiv(config.intermediate(), BLOCK);
        return projection == GroupedProjection.DOWN_PROJS
                ? new long[] {experts, i, h}
                : new long[] {experts, h, config.gated() ? 2 * i : i};
    }

    /**
     * Where in grouped scales {@code grouped} [E_local, ...] the transposed scales of expert {@code local}'s
     * {@code projection} go: a view [⌈C/128⌉, ⌈R/128⌉] to copy {@code perExpertScales.t()} into, or to read back.
     */
    public static Tensor slot(Tensor grouped, long local, Projection projection, MoeConfig config) {
        Tensor expert = grouped.select(0, local);
        long i = Math.ceilDiv(config.intermediate(), BLOCK);
        return switch (projection) {
            case DOWN -> expert;
            case GATE -> expert.narrow(1, 0, i);
            case UP -> config.gated() ? expert.narrow(1, i, i) : expert;
        };
    }
}
