package dev.moeshard.cli;

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
}
