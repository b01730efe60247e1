package dev.moeshard.convert;

import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.Projection;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import dev.moeshard.tensor.copy.LibcMemcpy;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The HF→grouped merge and the grouped→HF split of one layer's experts, in memory, timed beside a memcpy of the same
 * bytes in the same run, so that the result is a ratio that means something on a noisy machine.
 *
 * <p>Merge: per-expert gate, up [I, H] and down [H, I] copied through transposed views into {@code gate_and_up_projs}
 * [E, H, 2I] and {@code down_projs} [E, I, H], in one {@code copyAll} as the conversion makes it. Split
 * (materialized): the reverse, into new per-expert tensors. The memcpy is a contiguous copy of the same number of
 * bytes through the same engine, so it gets the same threads. On one thread the C library's memcpy of the same bytes
 * is timed too: the JVM's copy can be faster than the C library's, and a target stated against "a memcpy" could mean
 * either. Each figure is the best of the repetitions, measured interleaved, so that a slow moment hurts all alike; the
 * split must give back exactly what was merged, or the measurement fails.
 */
public final class LayerThroughput {
    private LayerThroughput() {}

    /**
     * Best times of one kernel set, in nanoseconds.
     *
     * @param kernels the copy kernels' name (scalar or a SIMD set)
     * @param bytes the layer's expert bytes, moved by each copy
     * @param libcNanos the C library's memcpy, or -1 where it was not timed (several threads, or no libc found)
     */
    public record Result(String kernels, long bytes, long mergeNanos, long splitNanos, long memcpyNanos, long libcNanos) {
        public double mergeGigabytesPerSecond() {
            return bytes / (double) mergeNanos;
        }

        public double splitGigabytesPerSecond() {
            return bytes / (double) splitNanos;
        }

        public double memcpyGigabytesPerSecond() {
            return bytes / (double) memcpyNanos;
        }
    }

    /** Expert bytes of one layer of {@code experts} × (gate, up, down) in {@code type}. */
    public static long layerBytes(int experts, long hidden, long intermediate, DType type) {
        return 3L * experts * intermediate * hidden * type.byteSize();
    }

    /** Times one layer on {@code threads} threads with the SIMD or the scalar kernels, best of {@code repetitions}. */
    public static Result measure(int experts, long hidden, long intermediate, DType type, int threads, boolean simd,
                                 int repetitions) {
        if (experts < 1 || hidden < 1 || intermediate < 1 || threads < 1 || repetitions < 1) {
            throw new UsageException("--experts, --hidden, --intermediate, --threads and --repetitions must be positive");
        }
        Layer layer = new Layer(experts, hidden, intermediate, type);
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
        return new Result(engine.kernels().name(), layer.bytes(), merge, split, memcpy,
                libcMemcpy.isPresent() ? libc : -1);
    }

    /** One layer's experts in both layouts, plus two flat buffers of the same size for the memcpy. */
    private static final class Layer {
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
        private final int experts;
        private final long hidden;
        private final long intermediate;

        Layer(int experts, long hidden, long intermediate, DType type) {
            this.type = type;
            this.experts = experts;
            this.hidden = hidden;
            this.intermediate = intermediate;
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
