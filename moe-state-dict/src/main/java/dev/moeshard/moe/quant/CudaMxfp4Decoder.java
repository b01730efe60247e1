package dev.moeshard.moe.quant;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.moeshard.cuda.Cuda;
import dev.moeshard.cuda.CudaCopies;
import dev.moeshard.cuda.CudaModule;
import dev.moeshard.cuda.CudaStream;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;

/**
 * {@link Mxfp4Decoder#decode} on a CUDA device: the blocks and scales go up as they lie (through the copy engine's
 * pinned staging), and {@code moe-state-dict/src/main/cuda/mxfp4_kernels.cu} decodes them into a new device tensor
 * [E, in, out] with the CPU decoders' bits (same value rule, same round-to-nearest-even to BF16). 17 bytes per 32
 * values cross the bus instead of the 64 of BF16 decoded on the host.
 */
final class CudaMxfp4Decoder {
    static final String RESOURCE = "/dev/moeshard/moe/quant/mxfp4_kernels.ptx";

    // Must match TILE_ROWS, TILE_BLOCKS, THREADS_X and THREADS_Y in mxfp4_kernels.cu.
    private static final int TILE_ROWS = 32;
    private static final int TILE_BLOCKS = 2;
    private static final CudaModule.Dim3 THREADS = new CudaModule.Dim3(32, 8, 1);
    private static final int MAX_GRID_YZ = 65535;
    // The kernel reads blocks as 32-bit words; cudaMalloc gives 256-byte alignment, views of whole experts keep 16.
    private static final int BLOCKS_ALIGNMENT = 16;

    private CudaMxfp4Decoder() {}

    /**
     * {@code blocks} [E, rows, G, 16] with {@code scales} [E, rows, G] (host or {@code device} tensors, already
     * checked by the caller) decoded into a new contiguous [E, G·32, rows] tensor of {@code target} (BF16 or F32) on
     * {@code device}. Returns once the result is complete.
     */
    static Tensor decode(Tensor blocks, Tensor scales, DType target, Device device) {
        String kernel = switch (target) {
            case BF16 -> "mxfp4_decode_bf16";
            case F32 -> "mxfp4_decode_f32";
            default -> throw new UnsupportedOperationException("MXFP4 decodes to BF16 or F32 on the GPU, not " + target
                    + "; decode on the host (Device.CPU) for other dtypes");
        };
        long experts = blocks.size(0);
        long rows = blocks.size(1);
        long groups = blocks.size(2);
        if (experts > MAX_GRID_YZ || Math.ceilDiv(groups, TILE_BLOCKS) > MAX_GRID_YZ) {
            throw new UnsupportedOperationException("MXFP4 tensor too large for one launch: " + experts + " experts, "
                    + groups + " blocks per row (at most " + MAX_GRID_YZ + " and " + (long) MAX_GRID_YZ * TILE_BLOCKS + ")");
        }
        Tensor deviceBlocks = onDevice(blocks, device);
        Tensor deviceScales = onDevice(scales, device);
        Tensor out = Tensor.allocate(device, target, Mxfp4Decoder.decodedShape(blocks.sizes()));
        if (out.numel() == 0) {
            return out;
        }
        Cuda.runtime().setDevice(device.index());
        CudaStream stream = CudaCopies.stream(device); // the uploads' stream, so the kernel runs after them
        CudaModule.Dim3 grid = new CudaModule.Dim3(Math.toIntExact(Math.ceilDiv(rows, TILE_ROWS)),
                (int) Math.ceilDiv(groups, TILE_BLOCKS), (int) experts);
        try (Arena arena = Arena.ofConfined()) {
            Ptx.MODULE.launch(kernel, grid, THREADS, stream,
                    address(arena, out), address(arena, deviceBlocks), address(arena, deviceScales),
                    arena.allocateFrom(JAVA_LONG, rows), arena.allocateFrom(JAVA_LONG, groups));
        }
        // The inputs may be scratch uploaded here: keep them alive until the kernel is done with them.
        stream.synchronize();
        Reference.reachabilityFence(deviceBlocks);
        Reference.reachabilityFence(deviceScales);
        return out;
    }

    /** {@code t} as a contiguous, aligned tensor on {@code device}: itself if it is one, else a copy there. */
    private static Tensor onDevice(Tensor t, Device device) {
        if (t.device().equals(device) && t.isContiguous()
                && (t.storage().address() + t.byteOffset()) % BLOCKS_ALIGNMENT == 0) {
            return t;
        }
        return Tensor.allocate(device, t.dtype(), t.sizes()).copyFrom(t);
    }

    /** A kernel argument holding the device address of {@code t}'s first element. */
    private static MemorySegment address(Arena arena, Tensor t) {
        return arena.allocateFrom(JAVA_LONG, t.storage().address() + t.byteOffset());
    }

    /** The PTX, loaded on first use only, so that the CPU path never touches CUDA. */
    private static final class Ptx {
        static final CudaModule MODULE = CudaModule.loadResource(RESOURCE);
    }
}
