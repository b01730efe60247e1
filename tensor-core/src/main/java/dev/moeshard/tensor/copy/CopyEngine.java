package dev.moeshard.tensor.copy;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Shapes;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.convert.Converters;
import dev.moeshard.tensor.convert.ElementConverter;
import dev.moeshard.tensor.simd.VectorSupport;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * Moves elements between two same-shape strided tensors: plans with {@link CopyPlan}, then runs the plan's kernel
 * over the outer loops, on several threads when the copy is large.
 *
 * <p>Large copies are split along the outer loops when there are enough of them, else along the kernel's own
 * leading extent (run length, or the rows of a transpose), so a single 1 GiB tensor is split too. Every part writes a
 * disjoint set of destination bytes, so parts need no coordination beyond the final join.
 */
public final class CopyEngine {
    /** Copies smaller than this run on the calling thread: below it, handing work to threads costs more than it saves. */
    public static final long PARALLEL_THRESHOLD_BYTES = 1L << 20;
    /** System property: the number of threads the shared engine uses (default: available processors). */
    public static final String THREADS_PROPERTY = "moeshard.threads";

    private static final CopyEngine SHARED = create(true, Integer.getInteger(THREADS_PROPERTY,
            Runtime.getRuntime().availableProcessors()));

    private final CopyKernels kernels;
    private final boolean simd;
    private final int threads;
    private final long parallelThresholdBytes;

    private CopyEngine(CopyKernels kernels, boolean simd, int threads, long parallelThresholdBytes) {
        this.kernels = kernels;
        this.simd = simd;
        this.threads = threads;
        this.parallelThresholdBytes = parallelThresholdBytes;
    }

    /** The engine {@link Tensor#copyFrom} uses: SIMD when available, all processors. */
    public static CopyEngine shared() {
        return SHARED;
    }

    /**
     * An engine with SIMD kernels (when this JVM allows them, see {@link VectorSupport}) or scalar ones, using at most
     * {@code threads} threads.
     */
    public static CopyEngine create(boolean simd, int threads) {
        return create(simd, threads, PARALLEL_THRESHOLD_BYTES);
    }

    /**
     * Like {@link #create(boolean, int)}, splitting copies of at least {@code parallelThresholdBytes} over the threads
     * (0 splits every copy, which tests use to exercise the split on small tensors).
     */
    public static CopyEngine create(boolean simd, int threads, long parallelThresholdBytes) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        if (parallelThresholdBytes < 0) {
            throw new IllegalArgumentException("parallel threshold must not be negative, got " + parallelThresholdBytes);
        }
        CopyKernels k = simd ? SimdKernelsHolder.KERNELS : ScalarCopyKernels.INSTANCE;
        return new CopyEngine(k, simd && k != ScalarCopyKernels.INSTANCE, threads, parallelThresholdBytes);
    }

    /** The same kernels with another thread count. */
    public CopyEngine withThreads(int n) {
        return create(simd, n, parallelThresholdBytes);
    }

    public CopyKernels kernels() { return kernels; }

    public int threads() { return threads; }

    /** Copies {@code src} into {@code dst}, converting the dtype when they differ. */
    public void copy(Tensor dst, Tensor src) {
        DType from = src.dtype();
        DType to = dst.dtype();
        if (!from.isByteAligned() || !to.isByteAligned()) {
            copySubByte(dst, src);
            return;
        }
        CopyPlan plan = CopyPlan.of(dst, src);
        if (plan.kind() == CopyPlan.Kind.EMPTY) {
            return;
        }
        ElementConverter converter = from == to ? null : simd ? Converters.best(from, to) : Converters.scalar(from, to);
        Part whole = new Part(plan, kernels, converter, src.storage(), dst.storage(), 0, plan.outerCount(), 0, splitExtent(plan));
        long bytes = Math.max(dst.byteSize(), src.byteSize());
        // Each part gets at least half the threshold, so a copy just over it is split in two, not in many.
        long minPartBytes = Math.max(1, parallelThresholdBytes / 2);
        int parts = (int) Math.min(threads, Math.max(1, bytes / minPartBytes));
        if (bytes < parallelThresholdBytes || parts < 2) {
            whole.run();
            return;
        }
        runInParallel(whole.split(parts));
    }

    /**
     * {@code dsts[i] <- srcs[i]} for every i. Many copies of a few MiB each (the experts of a layer) are shared out
     * whole among the threads, each thread taking a run of pairs of about equal bytes: a thread then streams through
     * whole experts, which keeps its cache and prefetch state to itself, where splitting each copy would make
     * every thread touch every expert.
     */
    public void copyAll(List<Tensor> dsts, List<Tensor> srcs) {
        if (dsts.size() != srcs.size()) {
            throw new IllegalArgumentException(dsts.size() + " destinations but " + srcs.size() + " sources");
        }
        long total = 0;
        for (Tensor dst : dsts) {
            total += dst.byteSize();
        }
        if (threads < 2 || dsts.size() < 2 || total < parallelThresholdBytes) {
            for (int i = 0; i < dsts.size(); i++) {
                copy(dsts.get(i), srcs.get(i));
            }
            return;
        }
        CopyEngine single = withThreads(1);
        int parts = Math.min(threads, dsts.size());
        // Pair i goes to the share its first byte falls in, so shares are runs of pairs of about equal bytes.
        int[] starts = new int[parts + 1];
        long before = 0;
        int share = 0;
        for (int i = 0; i < dsts.size(); i++) {
            while (share < parts - 1 && before * parts >= total * (share + 1)) {
                starts[++share] = i;
            }
            before += dsts.get(i).byteSize();
        }
        while (share < parts) {
            starts[++share] = dsts.size();
        }
        List<Runnable> shares = new ArrayList<>(parts);
        for (int part = 0; part < parts; part++) {
            int start = starts[part];
            int end = starts[part + 1];
            shares.add(() -> {
                for (int i = start; i < end; i++) {
                    single.copy(dsts.get(i), srcs.get(i));
                }
            });
        }
        List<ForkJoinTask<?>> forked = new ArrayList<>(parts);
        for (int i = 1; i < shares.size(); i++) {
            forked.add(CopyThreads.POOL.submit(shares.get(i)));
        }
        shares.get(0).run();
        for (ForkJoinTask<?> task : forked) {
            task.join();
        }
    }

    /**
     * Runs every job of {@code jobs} whole on one of this engine's threads, each given a one-thread engine with these
     * kernels: for work already cut into independent pieces that each copy and then do something else with the
     * result (a batch of a layer built in a buffer, then written to a file), so that the something else runs in
     * parallel too. Jobs are handed out in order as threads come free. The first failure is rethrown once all
     * threads have stopped; jobs not yet started then are skipped.
     */
    public void runEach(List<? extends Consumer<CopyEngine>> jobs) {
        CopyEngine single = withThreads(1);
        int workers = Math.min(threads, jobs.size());
        if (workers < 2) {
            jobs.forEach(job -> job.accept(single));
            return;
        }
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Runnable worker = () -> {
            for (int i = next.getAndIncrement(); i < jobs.size() && failure.get() == null; i = next.getAndIncrement()) {
                try {
                    jobs.get(i).accept(single);
                } catch (RuntimeException | Error e) {
                    failure.compareAndSet(null, e);
                }
            }
        };
        List<ForkJoinTask<?>> forked = new ArrayList<>(workers - 1);
        for (int i = 1; i < workers; i++) {
            forked.add(CopyThreads.POOL.submit(worker));
        }
        worker.run();
        for (ForkJoinTask<?> task : forked) {
            task.join();
        }
        switch (failure.get()) {
            case null -> { }
            case RuntimeException e -> throw e;
            case Error e -> throw e;
            default -> throw new IllegalStateException(failure.get());
        }
    }

    private static void copySubByte(Tensor dst, Tensor src) {
        if (dst.dtype() != src.dtype()) {
            throw new UnsupportedOperationException("cannot convert " + src.dtype() + " to " + dst.dtype()
                    + ": sub-byte dtypes move only as raw bytes");
        }
        if (!Arrays.equals(dst.sizes(), src.sizes())) {
            throw new IllegalArgumentException("copy needs equal shapes: destination " + Shapes.format(dst.sizes())
                    + ", source " + Shapes.format(src.sizes()));
        }
        MemorySegment.copy(src.segment(), 0, dst.segment(), 0, src.byteSize());
    }

    private static long splitExtent(CopyPlan plan) {
        return plan.kind() == CopyPlan.Kind.TRANSPOSE ? plan.rowCount() : plan.innerCount();
    }

    private static void runInParallel(List<Part> parts) {
        List<ForkJoinTask<?>> forked = new ArrayList<>(parts.size());
        for (int i = 1; i < parts.size(); i++) {
            forked.add(CopyThreads.POOL.submit(parts.get(i)));
        }
        parts.get(0).run();
        for (ForkJoinTask<?> task : forked) {
            task.join();
        }
    }

    /** Kernels are looked up once, on first use of a SIMD engine. */
    private static final class SimdKernelsHolder {
        static final CopyKernels KERNELS = VectorSupport
                .load("dev.moeshard.tensor.copy.PanamaCopyKernels", CopyKernels.class)
                .orElse(ScalarCopyKernels.INSTANCE);
    }

    /** The pool is created on the first parallel copy only. */
    private static final class CopyThreads {
        static final ForkJoinPool POOL = new ForkJoinPool(Runtime.getRuntime().availableProcessors(),
                pool -> {
                    var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
                    t.setName("moeshard-copy-" + t.getPoolIndex());
                    t.setDaemon(true);
                    return t;
                }, null, false);
    }

    /** A share of a plan: outer blocks [outerFrom, outerTo), and of each block the split extent [from, to). */
    private record Part(CopyPlan plan, CopyKernels kernels, ElementConverter converter,
                        MemorySegment src, MemorySegment dst,
                        long outerFrom, long outerTo, long from, long to) implements Runnable {

        List<Part> split(int parts) {
            List<Part> out = new ArrayList<>(parts);
            long outer = outerTo - outerFrom;
            if (outer >= parts) {
                for (int i = 0; i < parts; i++) {
                    out.add(new Part(plan, kernels, converter, src, dst,
                            outerFrom + outer * i / parts, outerFrom + outer * (i + 1) / parts, from, to));
                }
            } else {
                long extent = to - from;
                int n = (int) Math.min(parts, extent);
                for (int i = 0; i < n; i++) {
                    out.add(new Part(plan, kernels, converter, src, dst, outerFrom, outerTo,
                            from + extent * i / n, from + extent * (i + 1) / n));
                }
            }
            return out;
        }

        @Override
        public void run() {
            int rank = plan.outerRank();
            long[] index = new long[rank];
            long rest = outerFrom;
            for (int d = rank - 1; d >= 0; d--) {
                index[d] = rest % plan.outerSize(d);
                rest /= plan.outerSize(d);
            }
            long srcOffset = plan.srcBase();
            long dstOffset = plan.dstBase();
            for (int d = 0; d < rank; d++) {
                srcOffset += index[d] * plan.outerSrcStride(d);
                dstOffset += index[d] * plan.outerDstStride(d);
            }
            for (long block = outerFrom; block < outerTo; block++) {
                runBlock(srcOffset, dstOffset);
                for (int d = rank - 1; d >= 0; d--) {
                    srcOffset += plan.outerSrcStride(d);
                    dstOffset += plan.outerDstStride(d);
                    if (++index[d] < plan.outerSize(d)) {
                        break;
                    }
                    srcOffset -= index[d] * plan.outerSrcStride(d);
                    dstOffset -= index[d] * plan.outerDstStride(d);
                    index[d] = 0;
                }
            }
        }

        private void runBlock(long srcOffset, long dstOffset) {
            long count = to - from;
            switch (plan.kind()) {
                case RUN -> {
                    long s = srcOffset + from * plan.innerSrcStride();
                    long d = dstOffset + from * plan.innerDstStride();
                    if (converter == null) {
                        kernels.run(src, s, dst, d, count * plan.srcElementBytes());
                    } else {
                        converter.convert(src, s, plan.innerSrcStride(), dst, d, plan.innerDstStride(), count);
                    }
                }
                case GATHER -> {
                    long s = srcOffset + from * plan.innerSrcStride();
                    long d = dstOffset + from * plan.innerDstStride();
                    if (converter == null) {
                        kernels.gather(src, s, plan.innerSrcStride(), dst, d, plan.innerDstStride(), count,
                                plan.srcElementBytes());
                    } else {
                        converter.convert(src, s, plan.innerSrcStride(), dst, d, plan.innerDstStride(), count);
                    }
                }
                case TRANSPOSE -> {
                    long s = srcOffset + from * plan.rowSrcStride();
                    long d = dstOffset + from * plan.rowDstStride();
                    if (converter == null) {
                        kernels.transpose(src, s, plan.innerSrcStride(), dst, d, plan.rowDstStride(),
                                count, plan.innerCount(), plan.srcElementBytes());
                    } else {
                        convertTransposed(s, d, count);
                    }
                }
                case EMPTY -> { }
            }
        }

        /** A transpose with conversion: converted row by row, in tiles so that source lines are reused from cache. */
        private void convertTransposed(long srcOffset, long dstOffset, long rows) {
            int tile = ScalarCopyKernels.TILE;
            long cols = plan.innerCount();
            for (long r0 = 0; r0 < rows; r0 += tile) {
                long rEnd = Math.min(rows, r0 + tile);
                for (long c0 = 0; c0 < cols; c0 += tile) {
                    long n = Math.min(cols, c0 + tile) - c0;
                    for (long r = r0; r < rEnd; r++) {
                        converter.convert(src, srcOffset + r * plan.rowSrcStride() + c0 * plan.innerSrcStride(),
                                plan.innerSrcStride(),
                                dst, dstOffset + r * plan.rowDstStride() + c0 * plan.innerDstStride(),
                                plan.innerDstStride(), n);
                    }
                }
            }
        }
    }
}
