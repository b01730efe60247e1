package dev.moeshard.convert;

import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.moe.quant.Fp8BlockQuantizer;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.List;

/**
 * {@code to-hf --quantize}: which output tensors are written quantized, and how. With {@code fp8-block128} every
 * tensor a DeepSeek-style FP8 checkpoint quantizes ({@link Fp8BlockQuantizer#quantizes}) that is not FP8 already
 * becomes {@code X.weight} F8_E4M3 with {@code X.weight_scale_inv}; everything else is written as it is.
 */
final class Requantization {
    private final boolean fp8;

    Requantization(boolean fp8) {
        this.fp8 = fp8;
    }

    private boolean applies(String name, Tensor source) {
        return fp8 && !source.dtype().isFp8() && source.dtype().isConvertible()
                && Fp8BlockQuantizer.quantizes(name, source.sizes());
    }

    /** The output tensors {@code source}, written under {@code name}, becomes. */
    List<TensorSpec> specs(String name, Tensor source) {
        if (!applies(name, source)) {
            return List.of(TensorSpec.of(name, source));
        }
        return List.of(new TensorSpec(name, DType.F8_E4M3, source.sizes()),
                new TensorSpec(name + Fp8BlockDequantizer.SCALE_SUFFIX, DType.F32,
                        Fp8BlockDequantizer.scaleShape(source.size(0), source.size(1))));
    }

    /**
     * Writes {@code source} quantized into {@code out} (where it holds either half) and returns true, or returns false where it is not quantized.
     * Where the codes and their scales fall in different shards, the half this writer does not hold is computed into
     * scratch and dropped: each shard's writer quantizes the weight once for its half.
     */
    boolean write(String name, Tensor source, ShardedCheckpointWriter out) {
        if (!applies(name, source)) {
            return false;
        }
        String scaleName = name + Fp8BlockDequantizer.SCALE_SUFFIX;
        if (!out.holds(name) && !out.holds(scaleName)) {
            return true; // another unit's
        }
        Tensor codes = out.holds(name) ? out.tensor(name) : Tensor.allocate(DType.F8_E4M3, source.sizes());
        Tensor scales = out.holds(scaleName) ? out.tensor(scaleName)
                : Tensor.allocate(DType.F32, Fp8BlockDequantizer.scaleShape(source.size(0), source.size(1)));
        Fp8BlockQuantizer.quantize(source, codes, scales, name);
        if (out.holds(scaleName)) {
            MappedPages.release(scales);
        }
        return true;
    }
}
