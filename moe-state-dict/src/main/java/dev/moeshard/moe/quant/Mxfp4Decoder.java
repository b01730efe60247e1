package dev.moeshard.moe.quant;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.simd.VectorSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Decodes GPT-OSS MXFP4 expert weights: {@code {name}_blocks} [E, rows, G, 16] U8 with {@code {name}_scales}
 * [E, rows, G] U8 become {@code {name}} [E, G·32, rows], the layout transformers' {@code convert_moe_packed_tensors}
 * produces: each of the {@code rows} output features holds its G·32 input-dimension values in blocks of 32 (the
 * input dimension is the one that is quantized), and the result is transposed to [E, in, out]. So
 * {@code gate_up_proj} [E, 2I, H/32, 16] decodes to [E, H, 2I], its 2I columns still interleaved gate, up, gate, up
 * as the BF16 GPT-OSS checkpoints store them, and {@code down_proj} [E, H, I/32, 16] decodes to [E, I, H].
 *
 * <p>Values are exact in F32 (see {@link E8M0Scale}); a requested dtype is reached by one rounding. Work goes one
 * expert at a time through an F32 scratch [rows, in], so memory beyond the output is one expert's F32 copy.
 */
public final class Mxfp4Decoder {
    /** Suffix of the packed FP4 codes. */
    public static final String BLOCKS_SUFFIX = "_blocks";
    /** Suffix of the E8M0 block scales. */
    public static final String SCALES_SUFFIX = "_scales";
    /** Values per MX block, along the input dimension. */
    public static final int BLOCK = Mxfp4Kernel.BLOCK_VALUES;

    private static final Mxfp4Kernel KERNEL = VectorSupport
            .load("dev.moeshard.moe.quant.PanamaMxfp4Kernel", Mxfp4Kernel.class)
            .orElseGet(ScalarMxfp4Kernel::new);

    private Mxfp4Decoder() {}

    /** The decoded shape of blocks of shape {@code blocksShape} [E, rows, G, 16]: [E, G·32, rows]. */
    public static long[] decodedShape(long[] blocksShape) {
        return new long[] {blocksShape[0], blocksShape[2] * BLOCK, blocksShape[1]};
    }

    /**
     * What is wrong with {@code blocks} and {@code scales} as one MXFP4 pair (blocks [E, rows, G, 16] U8, scales
     * [E, rows, G] U8), each problem naming its key; empty when they decode.
     */
    public static List<String> problems(String blocksKey, DType blocksDtype, long[] blocksShape, String scalesKey,
                                        DType scalesDtype, long[] scalesShape) {
        List<String> problems = new ArrayList<>();
        if (blocksDtype != DType.U8 || blocksShape.length != 4 || blocksShape[3] != Mxfp4Kernel.BLOCK_BYTES) {
            problems.add(blocksKey + ": MXFP4 blocks must be U8 [E, rows, G, 16], got " + blocksDtype
                    + Arrays.toString(blocksShape));
            return problems;
        }
        long[] want = Arrays.copyOf(blocksShape, 3);
        if (scalesShape == null) {
            problems.add(scalesKey + ": missing; the MXFP4 blocks " + blocksKey + " need their E8M0 scales "
                    + Arrays.toString(want));
        } else if (scalesDtype != DType.U8 && scalesDtype != DType.F8_E8M0 || !Arrays.equals(scalesShape, want)) {
            problems.add(scalesKey + ": MXFP4 scales of " + blocksKey + " must be U8 " + Arrays.toString(want)
                    + " (one per block of 32), got " + scalesDtype + Arrays.toString(scalesShape));
        }
        return problems;
    }

    /** {@code blocks} with {@code scales} decoded into a new contiguous [E, in, out] tensor of {@code target}. */
    public static Tensor decode(Tensor blocks, Tensor scales, DType target, String name) {
        requireValid(blocks, scales, name);
        Tensor out = Tensor.allocate(target, decodedShape(blocks.sizes()));
        for (long e = 0; e < blocks.size(0); e++) {
            decodeExpert(blocks.select(0, e), scales.select(0, e), out.select(0, e));
        }
        return out;
    }

    /**
     * {@code blocks} with {@code scales} decoded into a new contiguous [E, in, out] tensor of {@code target} on
     * {@code device}: on the host as {@link #decode(Tensor, Tensor, DType, String)}, or on a CUDA device (BF16 or
     * F32 there) with the same bits, the inputs uploaded packed.
     */
    public static Tensor decode(Tensor blocks, Tensor scales, DType target, String name, Device device) {
        if (device.isCpu()) {
            return decode(blocks.to(Device.CPU), scales.to(Device.CPU), target, name);
        }
        requireValid(blocks, scales, name);
        return CudaMxfp4Decoder.decode(blocks, scales, target, device);
    }

    private static void requireValid(Tensor blocks, Tensor scales, String name) {
        List<String> problems = problems(name + BLOCKS_SUFFIX, blocks.dtype(), blocks.sizes(), name + SCALES_SUFFIX,
                scales.dtype(), scales.sizes());
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(String.join("; ", problems));
        }
    }

    /**
     * One expert: {@code blocks} [rows, G, 16] with {@code scales} [rows, G] decoded into {@code target} [G·32, rows]
     * (any float dtype, any strides, e.g. a slice of a mapped output file).
     */
    public static void decodeExpert(Tensor blocks, Tensor scales, Tensor target) {
        // The F32 intermediate is freed on return: left to the collector, one per expert (tens of MB each for
        // GPT-OSS) piled up faster than it ran. Shared, because the transposing copy out of it uses threads.
        try (Arena scratch = Arena.ofShared()) {
            Tensor f32 = decodeToF32(blocks, scales, KERNEL, scratch);
            target.copyFrom(f32.t());
        }
    }

    /** [rows, G·32] F32, row-major: the untransposed values, with {@code kernel}, in memory of {@code arena}. */
    static Tensor decodeToF32(Tensor blocks, Tensor scales, Mxfp4Kernel kernel, Arena arena) {
        long rows = blocks.size(0);
        long groups = blocks.size(1);
        MemorySegment packed = blocks.contiguous().segment();
        MemorySegment scaleBytes = scales.contiguous().segment();
        Tensor out = Tensor.allocate(arena, DType.F32, rows, groups * BLOCK);
        kernel.decode(packed, 0, scaleBytes, 0, out.segment(), 0, rows * groups);
        return out;
    }

    /** Which kernel decodes: "SIMD" or "scalar". */
    public static String kernelName() {
        return KERNEL instanceof ScalarMxfp4Kernel ? "scalar" : "SIMD";
    }
}
