package dev.moeshard.cli;

import dev.moeshard.convert.UsageException;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.Projection;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import dev.moeshard.tensor.copy.LibcMemcpy;
import dev.moeshard.tensor.simd.VectorSupport;
import java.io.PrintWriter;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code moeshard bench}: the HF→grouped merge and the grouped→HF split of one layer's experts, in memory, beside a
 * memcpy of the same bytes in the same run, so that the result is a ratio that means something on a noisy machine.
 *
 * <p>Merge: per-expert gate, up [I, H] and down [H, I] copied through transposed views into {@code gate_and_up_projs}
 * [E, H, 2I] and {@code down_projs} [E, I, H]. Split (materialized): the reverse, into new per-expert tensors. The
 * memcpy is a contiguous copy of the same number of bytes through the same engine, so it gets the same threads. On
 * one thread the C library's memcpy of the same bytes is timed too, and both ratios are printed: the JVM's copy can be
 * faster than the C library's (1.15–1.19 × on an AMD EPYC VM), and a target stated against "a memcpy" could mean
 * either.
 * Each figure is the best of the repetitions, measured interleaved, so that a slow moment hurts all alike.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Times the HF->grouped merge and the grouped->HF split of one layer beside a memcpy of the same "
                + "bytes; prints GB/s and the ratio to memcpy.")
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--experts", paramLabel = "E", defaultValue = "128", description = "Experts (default: ${DEFAULT-VALUE}).")
    int experts;

    @Option(names = "--hidden", paramLabel = "H", defaultValue = "2048", description = "Hidden size (default: ${DEFAULT-VALUE}).")
    long hidden;

    @Option(names = "--intermediate", paramLabel = "I", defaultValue = "768",
            description = "Expert intermediate size (default: ${DEFAULT-VALUE}).")
    long intermediate;

    @Option(names = "--dtype", paramLabel = "bf16|f16|f32", defaultValue = "bf16", description = "dtype (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "1", description = "Copy threads (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--repetitions", paramLabel = "R", defaultValue = "5",
            description = "Timed repetitions after one warm-up; the best is reported (default: ${DEFAULT-VALUE}).")
    int repetitions;

    @Option(names = "--scalar", description = "Time the scalar kernels instead of SIMD.")
    boolean scalar;

    @Option(names = "--both", description = "Time the scalar and the SIMD kernels.")
    boolean both;

    @Mixin
    VerboseOption verbose;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        DType type = switch (dtype.toLowerCase(Locale.ROOT)) {
            case "bf16" -> DType.BF16;
            case "f16" -> DType.F16;
            case "f32" -> DType.F32;
            default -> throw new UsageException("--dtype must be bf16, f16 or f32, got '" + dtype + "'");
        };
        if (experts < 1 || hidden < 1 || intermediate < 1 || threads < 1 || repetitions < 1) {
            throw new UsageException("--experts, --hidden, --intermediate, --threads and --repetitions must be positive");
        }
        PrintWriter out = spec.commandLine().getOut();
        Layer layer = new Layer(type);
        out.printf("one layer: E=%d H=%d I=%d %s, %.1f MB of experts; %d thread%s; best of %d after a warm-up%n",
                experts, hidden, intermediate, type, layer.bytes() / 1e6, threads, threads == 1 ? "" : "s", repetitions);
        out.printf("SIMD: %s%n", VectorSupport.reason());
        List<Boolean> kernels = both ? List.of(false, true) : List.of(!scalar);
        for (boolean simd : kernels) {
            CopyEngine engine = CopyEngine.create(simd, threads);
            long merge = Long.MAX_VALUE;
            long split = Long.MAX_VALUE;
            long memcpy = Long.MAX_VALUE;
            long libc = Long.MAX_VALUE;
            Optional<LibcMemcpy> libcMemcpy = threads == 1 ? LibcMemcpy.find() : Optional.empty();
            for (int rep = 0; rep <= repetitions; rep++) {
                long t0 = System.nanoTime();
                layer.merge(engine);
                long t1 = System.nanoTime();
                layer.split(engine);
                long t2 = System.nanoTime();
                layer.memcpy(engine);
                long t3 = System.nanoTime();
                libcMemcpy.ifPresent(layer::memcpy);
                long t4 = System.nanoTime();
                if (rep > 0) { // the first round pays for JIT compilation and first-touch page faults
                    merge = Math.min(merge, t1 - t0);
                    split = Math.min(split, t2 - t1);
                    memcpy = Math.min(memcpy, t3 - t2);
                    libc = Math.min(libc, t4 - t3);
                }
            }
            layer.checkRoundTrip();
            double memcpyRate = layer.bytes() / (double) memcpy;
            String name = engine.kernels().name();
            out.printf("%-8s merge %7.2f GB/s  ratio %.2f   split %7.2f GB/s  ratio %.2f   memcpy %7.2f GB/s%n", name,
                    layer.bytes() / (double) merge, memcpy / (double) merge, layer.bytes() / (double) split,
                    memcpy / (double) split, memcpyRate);
            if (libcMemcpy.isPresent()) {
                out.printf("%-8s against the C library's memcpy (%.2f GB/s): merge ratio %.2f, split ratio %.2f%n", name,
                        layer.bytes() / (double) libc, libc / (double) merge, libc / (double) split);
            }
        }
        out.flush();
        return ExitCode.OK;
    }

    /** One layer's experts in both layouts, plus two flat buffers of the same size for the memcpy. */
    private final class Layer {
        private final List<Tensor> gate = new ArrayList<>();
        private final List<Tensor> up = new ArrayList<>();
        private final List<Tensor> down = new ArrayList<>();
        private final List<Tensor> splitGate = new ArrayList<>();
        private final List<Tensor> splitUp = new ArrayList<>();
        private final List<Tensor> splitDown = new ArrayList<>();
        private final Tensor gateAndUp;
        private final Tensor downProjs;
        private final Tensor flatFrom;
        private final Tensor flatTo;
        private final DType type;

        Layer(DType type) {
            this.type = type;
            for (int e = 0; e < experts; e++) {
                gate.add(noise(Tensor.allocate(type, intermediate, hidden), 3 * e));
                up.add(noise(Tensor.allocate(type, intermediate, hidden), 3 * e + 1));
                down.add(noise(Tensor.allocate(type, hidden, intermediate), 3 * e + 2));
                splitGate.add(Tensor.allocate(type, intermediate, hidden));
                splitUp.add(Tensor.allocate(type, intermediate, hidden));
                splitDown.add(Tensor.allocate(type, hidden, intermediate));
            }
            gateAndUp = Tensor.allocate(type, experts, hidden, 2 * intermediate);
            downProjs = Tensor.allocate(type, experts, intermediate, hidden);
            flatFrom = noise(Tensor.allocate(DType.U8, bytes()), 0);
            flatTo = Tensor.allocate(DType.U8, bytes());
        }

        long bytes() {
            return 3L * experts * intermediate * hidden * type.byteSize();
        }

        /** A layer's expert copies in one call, as fromHf and to-grouped make them. */
        void merge(CopyEngine engine) {
            List<Tensor> sources = new ArrayList<>();
            for (int e = 0; e < experts; e++) {
                sources.addAll(List.of(gate.get(e), up.get(e), down.get(e)));
            }
            engine.copyAll(slots(), sources);
        }

        void split(CopyEngine engine) {
            List<Tensor> targets = new ArrayList<>();
            for (int e = 0; e < experts; e++) {
                targets.addAll(List.of(splitGate.get(e), splitUp.get(e), splitDown.get(e)));
            }
            engine.copyAll(targets, slots());
        }

        /** Each expert's gate, up and down slots of the grouped tensors, in HF orientation, as the library maps them. */
        private List<Tensor> slots() {
            GroupedLayout layout = GroupedLayout.DEEPEP;
            Tensor gates = layout.projection(gateAndUp, Projection.GATE, intermediate, true);
            Tensor ups = layout.projection(gateAndUp, Projection.UP, intermediate, true);
            Tensor downs = layout.projection(downProjs, Projection.DOWN, intermediate, true);
            List<Tensor> out = new ArrayList<>();
            for (int e = 0; e < experts; e++) {
                out.addAll(List.of(gates.select(0, e), ups.select(0, e), downs.select(0, e)));
            }
            return out;
        }

        void memcpy(CopyEngine engine) {
            engine.copy(flatTo, flatFrom);
        }

        void memcpy(LibcMemcpy libc) {
            libc.copy(flatTo.segment(), flatFrom.segment(), bytes());
        }

        /** A benchmark of a broken copy would be worthless: the split must give back exactly what was merged. */
        void checkRoundTrip() {
            for (int e = 0; e < experts; e++) {
                if (gate.get(e).segment().mismatch(splitGate.get(e).segment()) != -1
                        || up.get(e).segment().mismatch(splitUp.get(e).segment()) != -1
                        || down.get(e).segment().mismatch(splitDown.get(e).segment()) != -1) {
                    throw new IllegalStateException("bench: expert " + e + " did not survive merge and split");
                }
            }
        }
    }

    // Different bytes everywhere, so that a copy that moves the wrong ones cannot pass the round-trip check.
    private static Tensor noise(Tensor t, long seed) {
        MemorySegment s = t.segment();
        long x = seed * 0x9E3779B97F4A7C15L + 1;
        long i = 0;
        for (; i + 8 <= s.byteSize(); i += 8) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, i, x);
        }
        for (; i < s.byteSize(); i++) {
            s.set(ValueLayout.JAVA_BYTE, i, (byte) (i + seed));
        }
        return t;
    }
}
