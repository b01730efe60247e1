package dev.moeshard.benchmarks;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import dev.moeshard.tensor.copy.LibcMemcpy;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.function.BiConsumer;

/**
 * moeshard's half of the PyTorch side-by-side ({@code benchmarks/pytorch_compare.sh}): the same jobs as
 * {@code pytorch_compare.py} on the same sizes and thread counts, printed in the same format: HF→grouped merge into
 * preallocated grouped storage, grouped→HF split materialized into preallocated per-expert tensors, BF16→F32 of one
 * projection, each beside a memcpy of the same bytes on the same threads, in GB/s (bytes written per second) and as a
 * ratio to that memcpy. On one thread the C library's memcpy of the same bytes is timed as well ({@code memcpy-libc}),
 * and the merge and split lines add their ratio to it: the JVM's copy, the first yardstick, can be the faster of the
 * two. Each figure is the median of the repetitions (each at least 0.1 s of back-to-back jobs) after a second of
 * warm-up.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp benchmarks/target/moeshard-benchmarks.jar \
 *     dev.moeshard.benchmarks.ConversionThroughput [ExHxI[,ExHxI...] [DTYPE[,DTYPE...] [THREADS[,THREADS...] [REPS]]]]
 * </pre>
 */
public final class ConversionThroughput {
    private ConversionThroughput() {}

    public static void main(String[] args) {
        String[] layers = (args.length > 0 ? args[0] : "128x2048x768,8x64x32").split(",");
        String[] dtypes = (args.length > 1 ? args[1] : "BF16,F32").split(",");
        int[] threadCounts = Arrays.stream((args.length > 2 ? args[2] : "1,2").split(","))
                .mapToInt(Integer::parseInt).toArray();
        int reps = args.length > 3 ? Integer.parseInt(args[3]) : 5;
        for (String layerText : layers) {
            for (String dtype : dtypes) {
                measure(layerText, dtype, threadCounts, reps);
            }
        }
    }

    /**
     * One layer and dtype on every thread count. A method of its own so that the layer is unreachable once it returns:
     * the next, larger one can then reclaim its native memory (a local of a loop in an interpreted main stays live).
     */
    private static void measure(String layerText, String dtype, int[] threadCounts, int reps) {
        ExpertLayer layer = new ExpertLayer();
        layer.layer = layerText;
        layer.dtype = dtype;
        layer.setUp();
        Tensor flatGrouped = Tensor.wrap(layer.gateAndUp.segment(), DType.U8, layer.gateAndUp.byteSize());
        Tensor staging = Tensor.allocate(DType.U8, layer.gateAndUp.byteSize());
        PatternFill.fill(staging.segment());
        long bytes = layer.bytes();
        for (int threads : threadCounts) {
            CopyEngine engine = CopyEngine.create(true, threads);
            // memcpy on the same threads as the job, so that the ratio compares like with like.
            CopyEngine bulk = CopyEngine.create(false, threads);
            String what = String.format(Locale.ROOT, "moeshard %-9s %s %-4s threads=%d", engine.kernels().name(),
                    layerText, dtype, threads);
            double memcpy = rate(bytes, reps, () -> {
                bulk.copy(flatGrouped, staging);
                copyDown(layer, bytesThrough(bulk));
            });
            report(what, "memcpy", memcpy, memcpy);
            Optional<LibcMemcpy> libc = threads == 1 ? LibcMemcpy.find() : Optional.empty();
            double libcRate = libc.map(c -> rate(bytes, reps, () -> {
                c.copy(flatGrouped.segment(), staging.segment(), staging.byteSize());
                copyDown(layer, (to, from) -> c.copy(to, from, from.byteSize()));
            })).orElse(Double.NaN);
            if (libc.isPresent()) {
                report(what, "memcpy-libc", libcRate, memcpy);
            }
            report(what, "merge", rate(bytes, reps, () -> layer.merge(engine)), memcpy, libcRate);
            report(what, "split", rate(bytes, reps, () -> layer.split(engine)), memcpy, libcRate);
            if (dtype.equals("BF16")) {
                convert(engine, bulk, layer, what, reps);
            }
        }
    }

    /** The down half of the memcpy: [E, I, H] bytes from a per-expert source of the same size, one copy each. */
    private static void copyDown(ExpertLayer layer, BiConsumer<MemorySegment, MemorySegment> copy) {
        for (int e = 0; e < layer.down.length; e++) {
            copy.accept(layer.downProjs.select(0, e).segment(), layer.down[e].segment());
        }
    }

    /** A contiguous copy through {@code bulk}, as bytes. */
    private static BiConsumer<MemorySegment, MemorySegment> bytesThrough(CopyEngine bulk) {
        return (to, from) -> bulk.copy(Tensor.wrap(to, DType.U8, to.byteSize()),
                Tensor.wrap(from, DType.U8, from.byteSize()));
    }

    /** BF16→F32 of every expert's gate viewed as [E·I, H], beside a memcpy of the F32 output bytes. */
    private static void convert(CopyEngine engine, CopyEngine bulk, ExpertLayer layer, String what, int reps) {
        LayerShape s = layer.shape;
        long rows = s.experts() * s.intermediate();
        Tensor source = Tensor.wrap(layer.gateAndUp.segment(), DType.BF16, rows, 2 * s.hidden()).narrow(1, 0, s.hidden())
                .contiguousCopy();
        Tensor f32 = Tensor.allocate(DType.F32, rows, s.hidden());
        Tensor f32Source = Tensor.allocate(DType.F32, rows, s.hidden());
        PatternFill.fill(f32.segment());
        PatternFill.fill(f32Source.segment());
        long bytes = f32.byteSize();
        double memcpy = rate(bytes, reps, () -> bulk.copy(f32, f32Source));
        report(what, "memcpy-f32", memcpy, memcpy);
        report(what, "bf16->f32", rate(bytes, reps, () -> engine.copy(f32, source)), memcpy);
    }

    /**
     * Median GB/s over {@code reps} repetitions. Small layers take microseconds, so each repetition runs the job
     * enough times to last 0.1 s, after a second of warm-up that lets C2 compile the kernels.
     */
    private static double rate(long bytes, int reps, Runnable job) {
        long start = System.nanoTime();
        long runs = 0;
        while (runs == 0 || System.nanoTime() - start < 1_000_000_000L) {
            job.run();
            runs++;
        }
        long inner = Math.max(1, 100_000_000L * runs / (System.nanoTime() - start));
        double[] rates = new double[reps];
        for (int r = 0; r < reps; r++) {
            long t0 = System.nanoTime();
            for (long k = 0; k < inner; k++) {
                job.run();
            }
            rates[r] = bytes * (double) inner / (System.nanoTime() - t0);
        }
        Arrays.sort(rates);
        return rates[reps / 2];
    }

    private static void report(String what, String job, double gbPerS, double memcpy) {
        System.out.printf(Locale.ROOT, "%s %-10s %7.2f GB/s  ratio %.2f%n", what, job, gbPerS, gbPerS / memcpy);
    }

    /** As above, adding the ratio to the C library's memcpy where it was timed. */
    private static void report(String what, String job, double gbPerS, double memcpy, double libcMemcpy) {
        if (Double.isNaN(libcMemcpy)) {
            report(what, job, gbPerS, memcpy);
        } else {
            System.out.printf(Locale.ROOT, "%s %-10s %7.2f GB/s  ratio %.2f  (%.2f of memcpy-libc)%n", what, job,
                    gbPerS, gbPerS / memcpy, gbPerS / libcMemcpy);
        }
    }
}
