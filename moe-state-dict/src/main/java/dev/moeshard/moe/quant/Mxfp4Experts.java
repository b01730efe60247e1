package dev.moeshard.moe.quant;

import java.util.Collection;

/**
 * Which keys of a GPT-OSS checkpoint are MXFP4: {@code ...mlp.experts.gate_up_proj_blocks} with
 * {@code ..._scales}, and the same for {@code down_proj}. Only expert weights are ever MXFP4 in GPT-OSS; biases,
 * attention and the router stay BF16.
 */
public final class Mxfp4Experts {
    private Mxfp4Experts() {}

    /** Whether {@code key} holds the packed FP4 codes of an expert weight. */
    public static boolean isBlocks(String key) {
        return key.contains(".experts.") && key.endsWith(Mxfp4Decoder.BLOCKS_SUFFIX);
    }

    /** Whether {@code key} holds the scales of an expert weight whose blocks are among {@code keys}. */
    public static boolean isScales(String key, Collection<String> keys) {
        return key.contains(".experts.") && key.endsWith(Mxfp4Decoder.SCALES_SUFFIX)
                && keys.contains(weightKey(key) + Mxfp4Decoder.BLOCKS_SUFFIX);
    }

    /** The key of the decoded weight: {@code X} for {@code X_blocks} or {@code X_scales}. */
    public static String weightKey(String key) {
        String suffix = key.endsWith(Mxfp4Decoder.BLOCKS_SUFFIX) ? Mxfp4Decoder.BLOCKS_SUFFIX : Mxfp4Decoder.SCALES_SUFFIX;
        return key.substring(0, key.length() - suffix.length());
    }

    /** The key of the scales of blocks {@code blocksKey}. */
    public static String scalesKey(String blocksKey) {
        return weightKey(blocksKey) + Mxfp4Decoder.SCALES_SUFFIX;
    }
}
