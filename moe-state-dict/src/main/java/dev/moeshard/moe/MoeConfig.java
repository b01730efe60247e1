package dev.moeshard.moe;

/**
 * The shape of a model's routed experts.
 *
 * @param numExperts routed experts per MoE layer, E
 * @param hidden model hidden size, H
 * @param intermediate expert intermediate size, I
 * @param gated true for SwiGLU / GeGLU experts (gate and up projections), false for ReLU²-style ones (up only)
 * @param identityExperts Z, the identity ("zero-computation") experts the router may pick beside the routed ones, as
 *                        ids [E, E + Z) (LongCat-Flash's {@code zero_expert_num}); they compute nothing and own no
 *                        weights, so whatever a checkpoint holds under their ids is no routed expert and passes
 *                        through every conversion unchanged (see {@link ExpertNaming#withIdentityExperts})
 */
public record MoeConfig(int numExperts, long hidden, long intermediate, boolean gated, int identityExperts) {

    public MoeConfig {
        if (numExperts <= 0 || hidden <= 0 || intermediate <= 0) {
            throw new IllegalArgumentException("an MoE config needs positive sizes, got experts " + numExperts
                    + ", hidden " + hidden + ", intermediate " + intermediate);
        }
        if (identityExperts < 0 || identityExperts > ExpertIds.MAX_EXPERTS - numExperts) {
            throw new IllegalArgumentException("identity experts must number from 0 to " + (ExpertIds.MAX_EXPERTS
                    - numExperts) + " beside " + numExperts + " routed experts, got " + identityExperts);
        }
    }

    /** A model whose router picks only among its E routed experts. */
    public MoeConfig(int numExperts, long hidden, long intermediate, boolean gated) {
        this(numExperts, hidden, intermediate, gated, 0);
    }

    /** The same sizes with {@code numExperts} routed experts (the identity experts follow them). */
    public MoeConfig withNumExperts(int numExperts) {
        return new MoeConfig(numExperts, hidden, intermediate, gated, identityExperts);
    }

    /** Columns of {@code gate_and_up_projs}: 2I when gated, I otherwise. */
    public long gateUpWidth() {
        return gated ? 2 * intermediate : intermediate;
    }
}
