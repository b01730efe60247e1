package dev.moeshard.convert;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.TensorEntry;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Every kind of quantization scale a checkpoint can carry is honoured or refused, never ignored. Block scales
 * ({@code weight_scale_inv}, 128×128) are dequantized or grouped (see {@link QuantizationCheck}). Per-tensor and
 * per-channel FP8 scales ({@code weight_scale}, compressed-tensors and ModelOpt) and activation scales
 * ({@code input_scale}) are kept, tensor for tensor, when the FP8 weights are kept, and refused when a conversion
 * would turn the FP8 codes into another dtype: cast without their scale they would be wrong values. Integer-packed
 * weights (GPTQ, AWQ, compressed-tensors' packed formats) and a {@code quantization_config.quant_method} outside
 * the known ones are refused whatever is asked.
 */
final class ScaleKinds {
    /** The quant_methods whose tensors the checks here understand. */
    static final Set<String> KNOWN_METHODS = Set.of("fp8", "compressed-tensors", "modelopt", "mxfp4");
    /** Suffixes of integer-quantized weights and their parameters. */
    private static final List<String> PACKED = List.of(".qweight", ".qzeros", ".g_idx", ".weight_packed",
            ".weight_zero_point", ".weight_shape", ".weight_scale_2", ".weight_global_scale");

    private ScaleKinds() {}

    /**
     * The problems with {@code checkpoint}'s scales for a job that converts FP8 weights to another dtype
     * ({@code dequantizing}) or keeps them; {@code config} is config.json or null.
     */
    static List<String> problems(Checkpoint checkpoint, JsonNode config, boolean dequantizing) {
        List<String> problems = new ArrayList<>();
        JsonNode quantization = config == null ? null : config.path("quantization_config");
        if (quantization != null && quantization.isObject()) {
            String method = quantization.path("quant_method").asText("");
            if (!KNOWN_METHODS.contains(method)) {
                problems.add("config.json: quantization_config.quant_method '" + method + "' is not one moeshard "
                        + "reads (it reads " + KNOWN_METHODS.stream().sorted().toList() + "); its weights would be "
                        + "converted as raw codes, so nothing is converted");
            }
        }
        for (String key : checkpoint.keys()) {
            for (String suffix : PACKED) {
                if (key.endsWith(suffix)) {
                    problems.add(key + ": an integer-quantized weight or its parameters (" + suffix.substring(1)
                            + "); moeshard converts floating-point, FP8 and MXFP4 weights only");
                }
            }
            if (dequantizing && (key.endsWith(".weight_scale") || key.endsWith(".input_scale"))) {
                String weight = key.substring(0, key.lastIndexOf('.')) + ".weight";
                TensorEntry w = checkpoint.contains(weight) ? checkpoint.entry(weight) : null;
                if (w != null && w.dtype().isFp8() && !checkpoint.contains(weight + Fp8BlockDequantizer.SCALE_SUFFIX)) {
                    problems.add(key + ": " + kind(key, checkpoint.entry(key), w) + " of the FP8 weight " + weight
                            + "; converting FP8 codes to another dtype with such scales is not supported, and "
                            + "without them the values would be wrong: use --dtype keep, which groups the FP8 "
                            + "experts and keeps every scale as it is");
                }
            }
        }
        return problems;
    }

    private static String kind(String key, TensorEntry scale, TensorEntry weight) {
        if (key.endsWith(".input_scale")) {
            return "an activation scale";
        }
        return scale.numel() == 1 ? "a per-tensor scale"
                : scale.numel() == weight.shape()[0] ? "a per-channel scale" : "a scale of shape " + Arrays.toString(scale.shape());
    }
}
