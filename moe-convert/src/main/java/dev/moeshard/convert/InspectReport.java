package dev.moeshard.convert;

import java.util.List;
import java.util.Map;

/**
 * What {@link MoeConvert#inspect} found in a checkpoint, from headers only, as one value: printed as text or,
 * unchanged, as JSON, so that the two can never disagree.
 *
 * @param layout per-expert, grouped (moeshard), or the family's own grouped layout (GPT-OSS, whose hf-v5 output is
 *               its own tensors under their own names)
 * @param expertLayers the layers that hold experts, as {@code prefix + "layers." + n}
 * @param missingExperts per layer, the expert ids with no tensor at all (only layers that lack some)
 * @param dtypes tensor count per dtype
 * @param problems every reason the checkpoint cannot be converted as a whole; empty when it can
 * @param quantization the quantized tensor groups (format, block size, bytes); empty for an unquantized checkpoint
 * @param ranks for grouped input, each checkpoint with the global experts it holds ({@code ep-rank-1: experts [3, 6)});
 *              empty for a per-expert checkpoint
 */
public record InspectReport(String input, List<String> files, String family, String detectedFrom, String layout,
                     int numExperts, long hidden, long intermediate, boolean gated, List<String> expertLayers,
                     List<String> projections, Map<String, List<Integer>> missingExperts, Map<String, Integer> dtypes,
                     int tensors, int expertTensors, long totalBytes, List<String> problems,
                     List<QuantizedGroup> quantization, List<String> ranks) {

    /** Whether the checkpoint can be converted as a whole: no problems. */
    public boolean valid() {
        return problems.isEmpty();
    }
}
