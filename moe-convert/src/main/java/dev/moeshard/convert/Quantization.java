package dev.moeshard.convert;

/** How {@link MoeConvert#toHf} writes projections: as they are, or quantized. */
public enum Quantization {
    /** Every tensor as the grouped input holds it. */
    NONE,
    /**
     * Expert and attention projections as F8_E4M3 with F32 {@code weight_scale_inv} per 128×128 block (amax / 448),
     * as DeepSeek-V3 checkpoints are.
     */
    FP8_BLOCK128
}
