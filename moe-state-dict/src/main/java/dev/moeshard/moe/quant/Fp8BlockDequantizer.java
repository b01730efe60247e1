package dev.moeshard.moe.quant;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Dequantizes block-quantized FP8 weights (DeepSeek-V3 style): a weight [R, C] in F8_E4M3 or F8_E5M2 comes with
 * {@code weight_scale_inv} [ceil(R/128), ceil(C/128)] in F32, one scale per 128×128 block, the blocks at the
 * right and bottom edges cut short. Each element becomes {@code float(w) × scale} computed in F32 and then rounded
 * once to the requested dtype, as the reference does.
 */
public final class Fp8BlockDequantizer {
    /** Side of a quantization block, in elements. */
    public static final int BLOCK = 128;

    /** Suffix of the key that holds the scales of {@code X.weight}: {@code X.weight_scale_inv}. */
    public static final String SCALE_SUFFIX = "_scale_inv";

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Fp8BlockDequantizer() {}

    /** The scale shape a weight of shape [rows, cols] needs: [ceil(rows/128), ceil(cols/128)]. */
    public static long[] scaleShape(long rows, long cols) {
        return new long[] {Math.ceilDiv(rows, BLOCK), Math.ceilDiv(cols, BLOCK)};
    }

    /**
     * {@code weight} [R, C] dequantized with {@code scaleInv} into a new contiguous tensor of {@code target}.
     *
     * @throws IllegalArgumentException when the weight is not a 2-d FP8 tensor or the scales do not fit it
     */
    public static Tensor dequantize(Tensor weight, Tensor scaleInv, DType target, String name) {
        if (!weight.dtype().isFp8() || !weight.dtype().isConvertible() || weight.dim() != 2) {
            throw new IllegalArgumentException(name + ": block dequantization needs a 2-d F8_E4M3 or F8_E5M2 weight, got "
                    + weight.dtype() + Arrays.toString(weight.sizes()));
        }
        long rows = weight.size(0);
        long cols = weight.size(1);
        long[] expected = scaleShape(rows, cols);
        if (!Arrays.equals(scaleInv.sizes(), expected)) {
            throw new IllegalArgumentException(name + ": scale_inv has shape " + Arrays.toString(scaleInv.sizes())
                    + ", a weight of shape [" + rows + ", " + cols + "] needs " + Arrays.toString(expected)
                    + " (one scale per " + BLOCK + "x" + BLOCK + " block)");
        }
        // FP8 -> F32 is exact, so converting through the copy engine first loses nothing.
        Tensor values = weight.to(DType.F32);
        float[] scales = readFloats(scaleInv.to(DType.F32).contiguous());
        MemorySegment data = values.segment();
        long blockCols = expected[1];
        for (long r = 0; r < rows; r++) {
            long scaleRow = (r / BLOCK) * blockCols;
            long rowBase = r * cols * Float.BYTES;
            for (long c = 0; c < cols; c++) {
                long at = rowBase + c * Float.BYTES;
                float scaled = data.get(F32, at) * scales[(int) (scaleRow + c / BLOCK)];
                data.set(F32, at, scaled);
            }
        }
        return values.to(target);
    }

    private static float[] readFloats(Tensor contiguousF32) {
        return contiguousF32.segment().toArray(F32);
    }
}
