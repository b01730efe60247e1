package dev.moeshard.convert;

import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Shapes;
import dev.moeshard.tensor.Tensor;

/**
 * One buffer handed out again and again as a contiguous tensor of the shape asked for, grown when a larger one is
 * asked for. For per-expert intermediates (an FP8 expert dequantized before it is transposed into its output): a fresh
 * allocation per expert costs its page faults every time, and its native memory stays until the collector notices,
 * which let a conversion's resident set grow with every layer. A tensor from {@link #tensor} is valid until the
 * next call.
 */
final class ReusedScratch {
    private Tensor storage;

    Tensor tensor(DType dtype, long... sizes) {
        long bytes = dtype.storageBytes(Shapes.numel(sizes));
        if (storage == null || storage.byteSize() < bytes) {
            storage = Tensor.allocate(DType.U8, bytes);
        }
        return Tensor.wrap(storage.segment().asSlice(0, bytes), dtype, sizes);
    }

    /** Block-quantized {@code weight} dequantized with {@code scale} to {@code dtype} in this scratch. */
    Tensor dequantized(Tensor weight, Tensor scale, DType dtype, String name) {
        Tensor out = tensor(dtype, weight.sizes());
        Fp8BlockDequantizer.dequantizeInto(weight, scale, out, name);
        return out;
    }
}
