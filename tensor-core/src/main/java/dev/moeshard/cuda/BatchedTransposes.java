package dev.moeshard.cuda;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyPlan;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
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
        ctx.select();
        for (Map.Entry<Geometry, List<long[]>> batch : batches.entrySet()) {
            List<long[]> pairs = batch.getValue();
            for (int from = 0; from < pairs.size(); from += MAX_BATCH) {
                launch(ctx, batch.getKey(), pairs.subList(from, Math.min(pairs.size(), from + MAX_BATCH)));
            }
        }
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

    private static void launch(CudaCopies.DeviceContext ctx, Geometry g, List<long[]> pairs) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment table = arena.allocate(JAVA_LONG, 2L * pairs.size());
            for (int i = 0; i < pairs.size(); i++) {
                table.setAtIndex(JAVA_LONG, 2L * i, pairs.get(i)[0]);
                table.setAtIndex(JAVA_LONG, 2L * i + 1, pairs.get(i)[1]);
            }
            Tensor onDevice = Tensor.allocate(Device.cuda(ctx.index), DType.U64, 2L * pairs.size());
            // The table is small; a synchronous copy keeps it alive exactly as long as needed.
            ctx.cuda.memcpy(CudaCopies.address(onDevice.storage(), 0), table, table.byteSize());
            boolean packed = packable(g, pairs);
            int perThread = packed ? 4 / g.width() : 1;
            CudaModule.Dim3 tiles = new CudaModule.Dim3(Math.toIntExact(Math.ceilDiv(g.rows(), TILE * perThread)),
                    Math.toIntExact(Math.ceilDiv(g.cols(), TILE * perThread)), pairs.size());
            GpuCopyKernels.module().launch((packed ? "transpose_tiles_batched_packed_" : "transpose_tiles_batched_")
                            + g.width(), tiles, new CudaModule.Dim3(TILE, ROWS_PER_PASS, 1), ctx.stream,
                    CudaCopies.pointerArg(arena, CudaCopies.address(onDevice.storage(), 0)),
                    CudaCopies.longArg(arena, g.rows()), CudaCopies.longArg(arena, g.cols()),
                    CudaCopies.longArg(arena, g.dstRowStride()), CudaCopies.longArg(arena, g.srcColStride()));
            // Keep the table's device memory until the kernel has read it.
            ctx.stream.synchronize();
            Reference.reachabilityFence(onDevice);
        }
    }
}
