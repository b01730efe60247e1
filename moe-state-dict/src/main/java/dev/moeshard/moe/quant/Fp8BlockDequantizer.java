package dev.moeshard.moe.quant;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.convert.Converters;
import dev.moeshard.tensor.convert.ScaledConverter;
import java.lang.foreign.Arena;
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
     * @throws IllegalArgumentException when the weight is not a 2-d FP8 tensor, the scales do not fit it, or
     *                                  {@code target} is not an arithmetic dtype
     */
    public static Tensor dequantize(Tensor weight, Tensor scaleInv, DType target, String name) {
        long[] expectedScales = checkWeightAndScales(weight, scaleInv, name);
        checkTarget(target, name);
        Tensor result = Tensor.allocate(target, weight.sizes());
        scaleInto(weight, scaleInv, result, expectedScales[1]);
        return result;
    }

    /**
     * {@code weight} [R, C] dequantized with {@code scaleInv} into {@code out}, a contiguous [R, C] tensor in host
     * memory (a mapped output file, a reused buffer) of any arithmetic dtype: the same bytes {@link #dequantize}
     * returns, with no output of its own to allocate and fault in. To F32, BF16 and F16 the weight is read once and
     * {@code out} written once; to F64 and the FP8 formats an F32 temporary lies between, rounded once to the target.
     *
     * @throws IllegalArgumentException when the weight is not a 2-d FP8 tensor, the scales do not fit it, or
     *                                  {@code out} is not a contiguous host tensor of the weight's shape and an
     *                                  arithmetic dtype
     */
    public static void dequantizeInto(Tensor weight, Tensor scaleInv, Tensor out, String name) {
        long[] expectedScales = checkWeightAndScales(weight, scaleInv, name);
        checkTarget(out.dtype(), name);
        if (!Arrays.equals(out.sizes(), weight.sizes())) {
            throw new IllegalArgumentException(name + ": the output has shape " + Arrays.toString(out.sizes())
                    + ", the weight " + Arrays.toString(weight.sizes()) + " dequantizes to the same shape");
        }
        if (!out.device().isCpu()) {
            throw new IllegalArgumentException(name + ": the output must be in host memory, it is on "
                    + out.device());
        }
        if (!out.isContiguous()) {
            throw new IllegalArgumentException(name + ": the output must be contiguous (row-major, no gaps), it has "
                    + "strides " + Arrays.toString(out.strides()) + " for shape " + Arrays.toString(out.sizes()));
        }
        scaleInto(weight, scaleInv, out, expectedScales[1]);
    }

    /** Checks the weight and the shape of its scales; returns that shape. */
    private static long[] checkWeightAndScales(Tensor weight, Tensor scaleInv, String name) {
        return requireDequantizable(weight.dtype(), weight.sizes(), scaleInv.sizes(), name);
    }

    /**
     * Checks, from headers alone, that a weight of {@code dtype} and {@code shape} with scales of {@code scaleShape}
     * can be block-dequantized, as {@link #dequantize} will check it; returns the scale shape.
     *
     * @throws IllegalArgumentException when the weight is not a 2-d FP8 tensor or the scales do not fit it
     */
    public static long[] requireDequantizable(DType dtype, long[] shape, long[] scaleShape, String name) {
        if (!dtype.isFp8() || !dtype.isConvertible() || shape.length != 2) {
            throw new IllegalArgumentException(name + ": block dequantization needs a 2-d F8_E4M3 or F8_E5M2 weight, got "
                    + dtype + Arrays.toString(shape));
        }
        long rows = shape[0];
        long cols = shape[1];
        long[] expected = scaleShape(rows, cols);
        if (!Arrays.equals(scaleShape, expected)) {
            throw new IllegalArgumentException(name + ": scale_inv has shape " + Arrays.toString(scaleShape)
                    + ", a weight of shape [" + rows + ", " + cols + "] needs " + Arrays.toString(expected)
                    + " (one scale per " + BLOCK + "x" + BLOCK + " block)");
        }
        return expected;
    }

    private static void checkTarget(DType target, String name) {
        if (!target.isConvertible()) {
            throw new IllegalArgumentException(name + ": cannot dequantize to " + target
                    + ": the result must be F64, F32, F16, BF16, F8_E4M3 or F8_E5M2");
        }
    }

    private static void scaleInto(Tensor weight, Tensor scaleInv, Tensor out, long blockCols) {
        float[] scales = readFloats(scaleInv.to(DType.F32).contiguous());
        if (Converters.hasScaled(weight.dtype(), out.dtype())) {
            scaleRows(weight.contiguous(), scales, out, blockCols);
            return;
        }
        // F64 and the FP8 targets have no fused kernel: dequantize to F32, which is what the reference rounds
        // from, and round that once to the target.
        try (Arena scratch = Arena.ofShared()) { // freed on return, not whenever the collector runs
            Tensor f32 = Tensor.allocate(scratch, DType.F32, weight.sizes());
            scaleRows(weight.contiguous(), scales, f32, blockCols);
            out.copyFrom(f32);
        }
    }

    /**
     * Writes every element of {@code weight} times its block's scale into {@code out}, both contiguous [R, C]: one
     * fused scaled conversion per row, which changes scale every 128 elements, so the weight is read once and the
     * output written once, with no temporary in between and the kernel's per-call work paid once per row.
     */
    private static void scaleRows(Tensor weight, float[] scales, Tensor out, long blockCols) {
        long rows = weight.size(0);
        long cols = weight.size(1);
        ScaledConverter converter = Converters.scaledBest(weight.dtype(), out.dtype());
        MemorySegment src = weight.segment();
        MemorySegment dst = out.segment();
        long outRowBytes = cols * out.dtype().byteSize();
        for (long r = 0; r < rows; r++) {
            int scaleRow = (int) ((r / BLOCK) * blockCols);
            converter.convertBlocks(src, r * cols, dst, r * outRowBytes, cols, scales, scaleRow, BLOCK);
        }
    }

    private static float[] readFloats(Tensor contiguousF32) {
        return contiguousF32.segment().toArray(F32);
    }
}
