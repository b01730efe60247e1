package dev.moeshard.convert;

import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.moe.quant.Mxfp4Decoder;
import dev.moeshard.moe.quant.Mxfp4Experts;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.TensorEntry;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One group of quantized tensors as {@code inspect} reports it: the tensors of one name pattern (layer and expert
 * numbers replaced by {@code *}) in one format.
 *
 * @param group the key pattern, e.g. {@code model.layers.*.mlp.experts.*.gate_proj.weight}
 * @param format {@code fp8 F8_E4M3} (block scales in {@code weight_scale_inv}) or {@code mxfp4} ({@code _blocks}
 *     with E8M0 {@code _scales})
 * @param blockSize the elements one scale covers: {@code 128x128} or {@code 32}
 * @param tensors how many quantized weights the group holds
 * @param bytes their bytes, scales included
 */
public record QuantizedGroup(String group, String format, String blockSize, int tensors, long bytes) {

    /** The quantized groups of {@code checkpoint}, from its headers, in checkpoint order. */
    static List<QuantizedGroup> of(Checkpoint checkpoint) {
        Map<String, QuantizedGroup> groups = new LinkedHashMap<>();
        String fp8Suffix = Fp8BlockDequantizer.SCALE_SUFFIX;
        for (String key : checkpoint.keys()) {
            TensorEntry e = checkpoint.entry(key);
            String format;
            String block;
            long bytes = e.byteSize();
            if (e.dtype().isFp8() && checkpoint.contains(key + fp8Suffix)) {
                format = "fp8 " + e.dtype().name();
                block = Fp8BlockDequantizer.BLOCK + "x" + Fp8BlockDequantizer.BLOCK;
                bytes += checkpoint.entry(key + fp8Suffix).byteSize();
            } else if (e.dtype().isFp8() && key.endsWith(".weight") && checkpoint.contains(key + "_scale")) {
                TensorEntry scale = checkpoint.entry(key + "_scale");
                format = "fp8 " + e.dtype().name() + " with weight_scale";
                block = scale.numel() == 1 ? "the whole tensor" : "one row";
                bytes += scale.byteSize();
            } else if (Mxfp4Experts.isBlocks(key) && checkpoint.contains(Mxfp4Experts.scalesKey(key))) {
                format = "mxfp4";
                block = String.valueOf(Mxfp4Decoder.BLOCK);
                bytes += checkpoint.entry(Mxfp4Experts.scalesKey(key)).byteSize();
            } else {
                continue;
            }
            String group = key.replaceAll("layers\\.\\d+\\.", "layers.*.").replaceAll("\\.\\d+\\.", ".*.");
            long added = bytes;
            groups.merge(group + "|" + format, new QuantizedGroup(group, format, block, 1, added),
                    (a, b) -> new QuantizedGroup(a.group, a.format, a.blockSize, a.tensors + 1, a.bytes + b.bytes));
        }
        return new ArrayList<>(groups.values());
    }
}
