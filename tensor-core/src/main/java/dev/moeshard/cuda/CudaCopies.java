package dev.moeshard.cuda;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.Shapes;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyPlan;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@link Tensor#copyFrom} where either side is on a CUDA device. The GPU side uses the same {@link CopyPlan} as the
 * CPU engine: a run becomes cudaMemcpyAsync, a batch of transposes the shared-memory tile kernel, anything else
 * the general strided kernel.
 *
 * <p>Device-to-device copies are queued on one stream per device and return at once; copies to the host wait for
 * that stream, so host code always sees the results of earlier copies. Host-to-device copies upload the source's
 * bytes as they lie (a transposed view of a contiguous tensor is uploaded as the contiguous block it views, through
 * {@link PinnedStaging}) and then run the strided copy on the device. Dtype conversion happens on the host side.
 */
public final class CudaCopies {
    private static final int THREADS = 256;
    private static final int TILE = 32;
    private static final int ROWS_PER_PASS = 8;
    private static final int MAX_GRID_YZ = 65535;
    private static final int MAX_STRIDED_BLOCKS = 1 << 20;

    private static final Map<Integer, DeviceContext> CONTEXTS = new LinkedHashMap<>();

    private CudaCopies() {}

    /** {@code dst <- src} where at least one of the two is on a CUDA device. */
    public static void copy(Tensor dst, Tensor src) {
        if (!Arrays.equals(dst.sizes(), src.sizes())) {
            throw new IllegalArgumentException("copy needs equal shapes: destination " + Shapes.format(dst.sizes())
                    + ", source " + Shapes.format(src.sizes()));
        }
        if (!dst.device().isCpu() && !src.device().isCpu()) {
            if (!dst.device().equals(src.device())) {
                throw new UnsupportedOperationException("copies between two CUDA devices (" + src.device() + " to "
                        + dst.device() + ") are not supported; go through the host");
            }
            if (dst.dtype() != src.dtype()) {
                throw new UnsupportedOperationException("dtype conversion on the GPU (" + src.dtype() + " to "
                        + dst.dtype() + ") is not supported; convert on the host before uploading");
            }
            onDevice(context(dst.device()), dst, src);
        } else if (!dst.device().isCpu()) {
            hostToDevice(context(dst.device()), dst, src);
        } else {
            deviceToHost(context(src.device()), dst, src);
        }
    }

    /**
     * Copies {@code srcs[i]} into {@code dsts[i]} for every i, all on one device. Transposes of the same geometry
     * (a layer's experts) go to the GPU as one launch; this is what makes a device-side merge run at memory speed
     * rather than at the rate of kernel launches.
     */
    public static void copyAll(List<Tensor> dsts, List<Tensor> srcs) {
        if (dsts.size() != srcs.size()) {
            throw new IllegalArgumentException(dsts.size() + " destinations but " + srcs.size() + " sources");
        }
        Set<Device> uploadsTo = new LinkedHashSet<>();
        for (int i = 0; i < srcs.size(); i++) {
            if (uploaded(dsts.get(i), srcs.get(i))) {
                uploadsTo.add(dsts.get(i).device());
            }
        }
        if (uploadsTo.isEmpty()) {
            BatchedTransposes.run(dsts, srcs); // queued only: device-to-device work needs no wait here
            return;
        }
        // The uploads are freed as soon as the copies out of them are done, not whenever the collector runs:
        // a layer's worth of device memory each time, which would otherwise pile up layer after layer.
        try (Arena uploads = Arena.ofShared()) {
            List<Tensor> onDevice = uploadAll(dsts, srcs, uploads);
            BatchedTransposes.run(dsts, onDevice);
            uploadsTo.forEach(device -> context(device).stream.synchronize());
        }
    }

    /** The stream device copies on {@code device} are queued on (to time them with events, or to order work after them). */
    public static CudaStream stream(Device device) {
        return context(device).stream;
    }

    /** Waits for every copy queued on {@code device}. */
    public static void synchronize(Device device) {
        context(device).stream.synchronize();
    }

    static synchronized DeviceContext context(Device device) {
        if (device.isCpu()) {
            throw new IllegalArgumentException("not a CUDA device: " + device);
        }
        return CONTEXTS.computeIfAbsent(device.index(), DeviceContext::new);
    }

    /** One stream and one staging pair per device. */
    static final class DeviceContext {
        final CudaRuntime cuda = Cuda.runtime();
        final int index;
        final CudaStream stream;
        final PinnedStaging staging;
        final PairTable pairTable;

        DeviceContext(int index) {
            this.index = index;
            cuda.setDevice(index);
            this.stream = CudaStream.create();
            this.staging = new PinnedStaging(cuda, StagingSettings.fromSystemProperties());
            this.pairTable = new PairTable();
        }

        void select() {
            cuda.setDevice(index);
        }
    }

    // ------------------------------------------------------------------------------------------------ device only

    static void onDevice(DeviceContext ctx, Tensor dst, Tensor src) {
        ctx.select();
        CopyPlan plan = CopyPlan.of(dst, src);
        int width = plan.srcElementBytes();
        MemorySegment dstBase = address(dst.storage(), plan.dstBase());
        MemorySegment srcBase = address(src.storage(), plan.srcBase());
        switch (plan.kind()) {
            case EMPTY -> { }
            case RUN -> {
                if (plan.outerRank() == 0) {
                    ctx.cuda.memcpyAsync(dstBase, srcBase, plan.innerCount() * width, ctx.stream);
                } else {
                    strided(ctx, plan, dstBase, srcBase, width);
                }
            }
            case TRANSPOSE -> {
                long outer = plan.outerCount();
                long tilesY = Math.ceilDiv(plan.innerCount(), TILE);
                if (outer > MAX_GRID_YZ || tilesY > MAX_GRID_YZ) {
                    strided(ctx, plan, dstBase, srcBase, width);
                } else {
                    transposeTiles(ctx, plan, dstBase, srcBase, width);
                }
            }
            case GATHER -> strided(ctx, plan, dstBase, srcBase, width);
        }
    }

    private static void transposeTiles(DeviceContext ctx, CopyPlan plan, MemorySegment dst, MemorySegment src, int width) {
        try (Arena arena = Arena.ofConfined()) {
            int outerRank = plan.outerRank();
            long[] sizes = new long[outerRank];
            long[] dstStrides = new long[outerRank];
            long[] srcStrides = new long[outerRank];
            for (int d = 0; d < outerRank; d++) {
                sizes[d] = plan.outerSize(d);
                dstStrides[d] = plan.outerDstStride(d) / width;
                srcStrides[d] = plan.outerSrcStride(d) / width;
            }
            CudaModule.Dim3 grid = new CudaModule.Dim3(Math.toIntExact(Math.ceilDiv(plan.rowCount(), TILE)),
                    (int) Math.ceilDiv(plan.innerCount(), TILE), (int) plan.outerCount());
            GpuCopyKernels.module().launch("transpose_tiles_" + width, grid, new CudaModule.Dim3(TILE, ROWS_PER_PASS, 1),
                    ctx.stream,
                    pointerArg(arena, dst), pointerArg(arena, src),
                    longArg(arena, plan.rowCount()), longArg(arena, plan.innerCount()),
                    longArg(arena, plan.rowDstStride() / width), longArg(arena, plan.innerSrcStride() / width),
                    KernelLayout.of(arena, sizes, dstStrides, srcStrides));
        }
    }

    private static void strided(DeviceContext ctx, CopyPlan plan, MemorySegment dst, MemorySegment src, int width) {
        int outerRank = plan.outerRank();
        boolean transpose = plan.kind() == CopyPlan.Kind.TRANSPOSE;
        int rank = outerRank + (transpose ? 2 : 1);
        long[] sizes = new long[rank];
        long[] dstStrides = new long[rank];
        long[] srcStrides = new long[rank];
        for (int d = 0; d < outerRank; d++) {
            sizes[d] = plan.outerSize(d);
            dstStrides[d] = plan.outerDstStride(d) / width;
            srcStrides[d] = plan.outerSrcStride(d) / width;
        }
        if (transpose) {
            sizes[outerRank] = plan.rowCount();
            dstStrides[outerRank] = plan.rowDstStride() / width;
            srcStrides[outerRank] = plan.rowSrcStride() / width;
        }
        sizes[rank - 1] = plan.innerCount();
        dstStrides[rank - 1] = plan.innerDstStride() / width;
        srcStrides[rank - 1] = plan.innerSrcStride() / width;
        long n = Shapes.numel(sizes);
        int blocks = (int) Math.min(MAX_STRIDED_BLOCKS, Math.ceilDiv(n, THREADS));
        try (Arena arena = Arena.ofConfined()) {
            GpuCopyKernels.module().launch("strided_copy_" + width, new CudaModule.Dim3(blocks, 1, 1),
                    new CudaModule.Dim3(THREADS, 1, 1), ctx.stream,
                    pointerArg(arena, dst), pointerArg(arena, src), longArg(arena, n),
                    KernelLayout.of(arena, sizes, dstStrides, srcStrides));
        }
    }

    // ------------------------------------------------------------------------------------------------ host <-> device

    private static void hostToDevice(DeviceContext ctx, Tensor dst, Tensor src) {
        ctx.select();
        if (dst.isContiguous() && src.isContiguous() && src.dtype() == dst.dtype()) {
            ctx.staging.upload(src.storage(), src.byteOffset(), address(dst.storage(), dst.byteOffset()),
                    src.byteSize(), ctx.stream);
            return;
        }
        try (Arena upload = Arena.ofShared()) { // the upload is freed once the copy out of it is done
            Tensor view = uploadedIfHost(src, dst, upload);
            onDevice(ctx, dst, view);
            ctx.stream.synchronize();
        }
    }

    /**
     * The sources, with every host source bound for a device destination uploaded as it lies into one device
     * buffer (one pipelined transfer for all of them) and replaced by a view of its place there.
     */
    private static List<Tensor> uploadAll(List<Tensor> dsts, List<Tensor> srcs, Arena arena) {
        List<Tensor> out = new ArrayList<>(srcs);
        Map<Integer, List<Integer>> byDevice = new LinkedHashMap<>();
        for (int i = 0; i < srcs.size(); i++) {
            if (uploaded(dsts.get(i), srcs.get(i))) {
                byDevice.computeIfAbsent(dsts.get(i).device().index(), k -> new ArrayList<>()).add(i);
            }
        }
        for (Map.Entry<Integer, List<Integer>> group : byDevice.entrySet()) {
            Device device = Device.cuda(group.getKey());
            DeviceContext ctx = context(device);
            ctx.select();
            List<PinnedStaging.HostBytes> parts = new ArrayList<>();
            List<Tensor> hosts = new ArrayList<>();
            List<Long> placedAt = new ArrayList<>();
            long total = 0;
            for (int i : group.getValue()) {
                Tensor host = denseHostSource(srcs.get(i), dsts.get(i).dtype());
                DenseSpan span = DenseSpan.of(host);
                long width = host.dtype().byteSize();
                long bytes = span.elements() * width;
                parts.add(new PinnedStaging.HostBytes(host.storage(), span.first() * width, bytes));
                hosts.add(host);
                placedAt.add(total);
                total += Math.ceilDiv(bytes, 16) * 16; // keep every placed tensor 16-byte aligned
            }
            List<PinnedStaging.HostBytes> padded = new ArrayList<>();
            for (int k = 0; k < parts.size(); k++) {
                padded.add(parts.get(k));
                long pad = (k + 1 < parts.size() ? placedAt.get(k + 1) : total) - placedAt.get(k) - parts.get(k).bytes();
                if (pad > 0) {
                    padded.add(new PinnedStaging.HostBytes(ZEROS, 0, pad));
                }
            }
            Tensor scratch = Tensor.allocate(arena, device, DType.U8, total);
            ctx.staging.uploadAll(padded, address(scratch.storage(), 0), ctx.stream);
            int k = 0;
            for (int i : group.getValue()) {
                Tensor host = hosts.get(k);
                long width = host.dtype().byteSize();
                DenseSpan span = DenseSpan.of(host);
                // A slice of the scratch: valid until the arena closes.
                Tensor placed = Tensor.wrapDevice(scratch.storage().asSlice(placedAt.get(k), span.elements() * width),
                        device, host.dtype(), span.elements());
                out.set(i, placed.asStrided(host.offset() - span.first(), host.sizes(), host.strides()));
                k++;
            }
        }
        return out;
    }

    private static final MemorySegment ZEROS = MemorySegment.ofArray(new byte[16]);

    /** The host tensor to upload for {@code src}: converted to {@code dtype}, and made dense when it is not. */
    private static Tensor denseHostSource(Tensor src, DType dtype) {
        Tensor host = src.dtype() == dtype ? src : src.to(dtype);
        return DenseSpan.of(host) == null ? host.contiguousCopy() : host;
    }

    /** Whether {@code src} is a host source bound for the device {@code dst} lives on, so must go up first. */
    private static boolean uploaded(Tensor dst, Tensor src) {
        return src.device().isCpu() && !dst.device().isCpu();
    }

    /** A host source for a device destination, uploaded as it lies and viewed on the device; else unchanged. */
    private static Tensor uploadedIfHost(Tensor src, Tensor dst, Arena arena) {
        if (!uploaded(dst, src)) {
            return src;
        }
        DeviceContext ctx = context(dst.device());
        ctx.select();
        Tensor host = denseHostSource(src, dst.dtype());
        DenseSpan span = DenseSpan.of(host);
        long width = host.dtype().byteSize();
        Tensor scratch = Tensor.allocate(arena, dst.device(), host.dtype(), span.elements());
        ctx.staging.upload(host.storage(), span.first() * width, address(scratch.storage(), 0),
                span.elements() * width, ctx.stream);
        return scratch.asStrided(host.offset() - span.first(), host.sizes(), host.strides());
    }

    private static void deviceToHost(DeviceContext ctx, Tensor dst, Tensor src) {
        ctx.select();
        Tensor dense = src.isContiguous() ? src : src.contiguousCopy();
        ctx.stream.synchronize();
        long bytes = dense.byteSize();
        if (dst.isContiguous() && dst.dtype() == src.dtype()) {
            ctx.staging.download(address(dense.storage(), dense.byteOffset()), dst.storage(), dst.byteOffset(), bytes,
                    ctx.stream);
            return;
        }
        Tensor host = Tensor.allocate(src.dtype(), src.sizes());
        ctx.staging.download(address(dense.storage(), dense.byteOffset()), host.storage(), 0, bytes, ctx.stream);
        dst.copyFrom(host);
    }

    // ------------------------------------------------------------------------------------------------ helpers

    static MemorySegment address(MemorySegment storage, long byteOffset) {
        return MemorySegment.ofAddress(storage.address() + byteOffset);
    }

    static MemorySegment pointerArg(Arena arena, MemorySegment pointer) {
        MemorySegment s = arena.allocate(JAVA_LONG);
        s.set(JAVA_LONG, 0, pointer.address());
        return s;
    }

    static MemorySegment longArg(Arena arena, long value) {
        MemorySegment s = arena.allocate(JAVA_LONG);
        s.set(JAVA_LONG, 0, value);
        return s;
    }

    /**
     * The elements a view covers, when they form one gap-free block (the view is a permutation of a contiguous
     * tensor): first element and count. Null otherwise.
     */
    record DenseSpan(long first, long elements) {
        static DenseSpan of(Tensor t) {
            long n = t.numel();
            if (n == 0) {
                return new DenseSpan(t.offset(), 0);
            }
            long[][] dims = new long[t.dim()][];
            int k = 0;
            for (int d = 0; d < t.dim(); d++) {
                if (t.size(d) > 1) {
                    dims[k++] = new long[] {t.stride(d), t.size(d)};
                }
            }
            long[][] used = Arrays.copyOf(dims, k);
            Arrays.sort(used, (a, b) -> Long.compare(a[0], b[0]));
            long expected = 1;
            for (long[] dim : used) {
                if (dim[0] != expected) {
                    return null;
                }
                expected *= dim[1];
            }
            return new DenseSpan(t.offset(), n);
        }
    }
}
