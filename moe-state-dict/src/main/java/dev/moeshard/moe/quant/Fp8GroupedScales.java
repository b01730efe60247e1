package dev.moeshard.moe.quant;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.ExpertNaming.GroupedKey;
import dev.moeshard.moe.GroupedProjection;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.Projection;
import dev.moeshard.tensor.Tensor;

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

    /** The grouped tensor {@code key} holds the scales of, parsed; null when it is no grouped scale key. */
    public static GroupedKey parse(ExpertNaming naming, String key) {
        if (!key.endsWith(Fp8BlockDequantizer.SCALE_SUFFIX)) {
            return null;
        }
        return naming.parseGrouped(key.substring(0, key.length() - Fp8BlockDequantizer.SCALE_SUFFIX.length()));
    }

    /** Why {@code config}'s experts cannot be grouped as FP8, or null when they can. */
    public static String refusal(MoeConfig config) {
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
