package dev.moeshard.moe.quant;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.convert.Converters;
import dev.moeshard.tensor.convert.ScaledConverter;
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
        float[] scales = readFloats(scaleInv.to(DType.F32).contiguous());
        // F64 and the FP8 targets have no fused kernel: dequantize to F32, which is what the reference rounds
        // from, and round that once to the target.
        boolean fused = Converters.hasScaled(weight.dtype(), target);
        Tensor result = Tensor.allocate(fused ? target : DType.F32, rows, cols);
        scaleBlocks(weight.contiguous(), scales, result, expected[1]);
        return fused ? result : result.to(target);
    }

    /**
     * Writes every element of {@code weight} times its block's scale into {@code out}, both contiguous [R, C]: one
     * fused scaled conversion per row and block, each a contiguous run of up to 128 elements with one scale, so
     * the weight is read once and the output written once, with no temporary in between.
     */
    private static void scaleBlocks(Tensor weight, float[] scales, Tensor out, long blockCols) {
        long rows = weight.size(0);
        long cols = weight.size(1);
        ScaledConverter converter = Converters.scaledBest(weight.dtype(), out.dtype());
        MemorySegment src = weight.segment();
        MemorySegment dst = out.segment();
        int outWidth = out.dtype().byteSize();
        for (long r = 0; r < rows; r++) {
            int scaleRow = (int) ((r / BLOCK) * blockCols);
            long rowStart = r * cols;
            for (long c = 0, block = 0; c < cols; c += BLOCK, block++) {
                long run = Math.min(BLOCK, cols - c);
                converter.convert(src, rowStart + c, dst, (rowStart + c) * outWidth, run,
                        scales[scaleRow + (int) block]);
            }
        }
    }

    private static float[] readFloats(Tensor contiguousF32) {
        return contiguousF32.segment().toArray(F32);
    }
}
