package dev.moeshard.moe;

/**
 * The shape of a model's routed experts.
 *
 * @param numExperts routed experts per MoE layer, E
 * @param hidden model hidden size, H
 * @param intermediate expert intermediate size, I
 * @param gated true for SwiGLU / GeGLU experts (gate and up projections), false for ReLU²-style ones (up only)
 */
public record MoeConfig(int numExperts, long hidden, long intermediate, boolean gated) {

    public MoeConfig {
        if (numExperts <= 0 || hidden <= 0 || intermediate <= 0) {
            throw new IllegalArgumentException("an MoE config needs positive sizes, got experts " + numExperts
                    + ", hidden " + hidden + ", intermediate " + intermediate);
        }
    }

    /** Columns of {@code gate_and_up_projs}: 2I when gated, I otherwise. */
    public long gateUpWidth() {
        return gated ? 2 * intermediate : intermediate;
    }
}
