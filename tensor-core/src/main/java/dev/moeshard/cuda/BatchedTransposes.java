package dev.moeshard.cuda;

import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyPlan;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Many device copies at once: the pairs whose plans are single 2-d transposes of one geometry are launched as one
 * kernel over a table of (destination, source) pointers; the rest are copied one by one.
 */
final class BatchedTransposes {
    private static final int TILE = 32;
    private static final int ROWS_PER_PASS = 8;
    private static final int MAX_BATCH = 65535;
    private static final int WIDE_TILE = 64;
    private static final int WIDE_THREADS = 256;

    private record Geometry(int width, long rows, long cols, long dstRowStride, long srcColStride) {}

    private BatchedTransposes() {}

    static void run(List<Tensor> dsts, List<Tensor> srcs) {
        if (dsts.isEmpty()) {
            return;
        }
        Device device = dsts.get(0).device();
        CudaCopies.DeviceContext ctx = CudaCopies.context(device);
        Map<Geometry, List<long[]>> batches = new LinkedHashMap<>();
        for (int i = 0; i < dsts.size(); i++) {
            Tensor dst = dsts.get(i);
            Tensor src = srcs.get(i);
            if (!dst.device().equals(device) || !src.device().equals(device) || dst.dtype() != src.dtype()) {
                dst.copyFrom(src);
                continue;
            }
            Geometry direct = transposeOf2d(dst, src);
            if (direct != null) {
                batches.computeIfAbsent(direct, k -> new ArrayList<>()).add(new long[] {
                    dst.storage().address() + dst.byteOffset(), src.storage().address() + src.byteOffset()});
                continue;
            }
            CopyPlan plan = CopyPlan.of(dst, src);
            if (plan.kind() != CopyPlan.Kind.TRANSPOSE || plan.outerRank() != 0) {
                CudaCopies.onDevice(ctx, dst, src);
                continue;
            }
            int w = plan.srcElementBytes();
            Geometry g = new Geometry(w, plan.rowCount(), plan.innerCount(), plan.rowDstStride() / w,
                    plan.innerSrcStride() / w);
            batches.computeIfAbsent(g, k -> new ArrayList<>()).add(new long[] {
                dst.storage().address() + plan.dstBase(), src.storage().address() + plan.srcBase()});
        }
        if (batches.isEmpty()) {
            return;
        }
        ctx.select();
        int total = batches.values().stream().mapToInt(List::size).sum();
        MemorySegment table = ctx.pairTable.upload(batches.values(), total, ctx.stream);
        long at = 0;
        for (Map.Entry<Geometry, List<long[]>> batch : batches.entrySet()) {
            List<long[]> pairs = batch.getValue();
            for (int from = 0; from < pairs.size(); from += MAX_BATCH) {
                List<long[]> part = pairs.subList(from, Math.min(pairs.size(), from + MAX_BATCH));
                launch(ctx, batch.getKey(), part, MemorySegment.ofAddress(table.address() + at * 16));
                at += part.size();
            }
        }
    }

    /**
     * Whole 64×64 tiles with every row of both sides 16-byte aligned: each thread then moves 16 bytes per access,
     * the widest there is (see transpose_tiles_batched_wide in copy_kernels.cu).
     */
    private static boolean wide(Geometry g, List<long[]> pairs) {
        if (g.rows() % WIDE_TILE != 0 || g.cols() % WIDE_TILE != 0
                || (g.dstRowStride() * g.width()) % 16 != 0 || (g.srcColStride() * g.width()) % 16 != 0) {
            return false;
        }
        for (long[] pair : pairs) {
            if (pair[0] % 16 != 0 || pair[1] % 16 != 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * 1- and 2-byte elements move four bytes per thread when every row of both sides starts 4-byte aligned (the
     * packed kernels read and write whole 32-bit words).
     */
    private static boolean packable(Geometry g, List<long[]> pairs) {
        if (g.width() > 2 || (g.dstRowStride() * g.width()) % 4 != 0 || (g.srcColStride() * g.width()) % 4 != 0) {
            return false;
        }
        for (long[] pair : pairs) {
            if (pair[0] % 4 != 0 || pair[1] % 4 != 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * The geometry of {@code dst <- src} when it is a plain 2-d transpose ([R, C] with unit column stride written
     * from a source with unit row stride, the shape of every expert in a merge), read straight off the strides:
     * the same answer {@link CopyPlan} gives, without its general planning, which for a layer of a few hundred
     * experts cost more host time than the GPU needs for the copies. Either way round: a grouped slot viewed in HF
     * orientation ([I, H] with unit stride along I) written from a contiguous expert is the same copy as the slot
     * written from the expert's transpose, and takes the dimension along which the destination is contiguous as its
     * columns, as {@link CopyPlan} would.
     */
    private static Geometry transposeOf2d(Tensor dst, Tensor src) {
        if (dst.dim() != 2 || src.dim() != 2) {
            return null;
        }
        int colDim = dst.stride(1) == 1 ? 1 : dst.stride(0) == 1 ? 0 : -1;
        if (colDim < 0) {
            return null;
        }
        int rowDim = 1 - colDim;
        long rows = dst.size(rowDim);
        long cols = dst.size(colDim);
        if (rows < 2 || cols < 2 || src.stride(rowDim) != 1
                || dst.stride(rowDim) < cols || src.stride(colDim) < rows) {
            return null;
        }
        return new Geometry(dst.dtype().byteSize(), rows, cols, dst.stride(rowDim), src.stride(colDim));
    }

    private static void launch(CudaCopies.DeviceContext ctx, Geometry g, List<long[]> pairs, MemorySegment table) {
        try (Arena arena = Arena.ofConfined()) {
            if (wide(g, pairs)) {
                CudaModule.Dim3 tiles = new CudaModule.Dim3(Math.toIntExact(g.rows() / WIDE_TILE),
                        Math.toIntExact(g.cols() / WIDE_TILE), pairs.size());
                GpuCopyKernels.module().launch("transpose_tiles_batched_wide_" + g.width(), tiles,
                        new CudaModule.Dim3(WIDE_THREADS, 1, 1), ctx.stream, CudaCopies.pointerArg(arena, table),
                        CudaCopies.longArg(arena, g.dstRowStride()), CudaCopies.longArg(arena, g.srcColStride()));
                return;
            }
            boolean packed = packable(g, pairs);
            int perThread = packed ? 4 / g.width() : 1;
            CudaModule.Dim3 tiles = new CudaModule.Dim3(Math.toIntExact(Math.ceilDiv(g.rows(), TILE * perThread)),
                    Math.toIntExact(Math.ceilDiv(g.cols(), TILE * perThread)), pairs.size());
            GpuCopyKernels.module().launch((packed ? "transpose_tiles_batched_packed_" : "transpose_tiles_batched_")
                            + g.width(), tiles, new CudaModule.Dim3(TILE, ROWS_PER_PASS, 1), ctx.stream,
                    CudaCopies.pointerArg(arena, table),
                    CudaCopies.longArg(arena, g.rows()), CudaCopies.longArg(arena, g.cols()),
                    CudaCopies.longArg(arena, g.dstRowStride()), CudaCopies.longArg(arena, g.srcColStride()));
        }
    }
}
