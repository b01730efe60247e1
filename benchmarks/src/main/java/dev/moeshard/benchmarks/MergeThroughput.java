package dev.moeshard.benchmarks;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A quick side-by-side of the HF→grouped merge and a memcpy of the same bytes, in one run, on the scalar and the
 * SIMD kernels: per-expert gate, up [I, H] and down [H, I] copied through transposed views into
 * {@code gate_and_up_projs} [E, H, 2I] and {@code down_projs} [E, I, H]. Prints GB/s and the ratio to memcpy for
 * each repetition; the first repetitions include JIT warm-up.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp benchmarks/target/moeshard-benchmarks.jar \
 *     dev.moeshard.benchmarks.MergeThroughput [E H I DTYPE THREADS REPETITIONS]
 * </pre>
 */
public final class MergeThroughput {
    private MergeThroughput() {}

    public static void main(String[] args) {
        int experts = args.length > 0 ? Integer.parseInt(args[0]) : 64;
        long hidden = args.length > 1 ? Long.parseLong(args[1]) : 2048;
        long intermediate = args.length > 2 ? Long.parseLong(args[2]) : 768;
        DType dtype = args.length > 3 ? DType.parse(args[3]) : DType.BF16;
        int threads = args.length > 4 ? Integer.parseInt(args[4]) : 1;
        int repetitions = args.length > 5 ? Integer.parseInt(args[5]) : 5;

        Tensor[] gate = new Tensor[experts];
        Tensor[] up = new Tensor[experts];
        Tensor[] down = new Tensor[experts];
        for (int e = 0; e < experts; e++) {
            gate[e] = filled(dtype, intermediate, hidden);
            up[e] = filled(dtype, intermediate, hidden);
            down[e] = filled(dtype, hidden, intermediate);
        }
        Tensor gateAndUp = Tensor.allocate(dtype, experts, hidden, 2 * intermediate);
        Tensor downProjs = Tensor.allocate(dtype, experts, intermediate, hidden);
        long bytes = gateAndUp.byteSize() + downProjs.byteSize();
        MemorySegment from = Tensor.allocate(DType.U8, bytes).segment();
        MemorySegment to = Tensor.allocate(DType.U8, bytes).segment();
        System.out.printf("merge of E=%d H=%d I=%d %s (%.0f MB), %d thread(s)%n", experts, hidden, intermediate, dtype,
                bytes / 1e6, threads);
        List<Tensor> dsts = new ArrayList<>();
        List<Tensor> srcs = new ArrayList<>();
        for (int e = 0; e < experts; e++) {
            Tensor slot = gateAndUp.select(0, e);
            dsts.add(slot.narrow(1, 0, intermediate));
            srcs.add(gate[e].t());
            dsts.add(slot.narrow(1, intermediate, intermediate));
            srcs.add(up[e].t());
            dsts.add(downProjs.select(0, e));
            srcs.add(down[e].t());
        }
        for (boolean simd : new boolean[] {false, true}) {
            CopyEngine engine = CopyEngine.create(simd, threads);
            for (int rep = 0; rep < repetitions; rep++) {
                long start = System.nanoTime();
                engine.copyAll(dsts, srcs); // as fromHf does: a layer's expert copies in one call
                long merged = System.nanoTime();
                MemorySegment.copy(from, 0, to, 0, bytes);
                long copied = System.nanoTime();
                double mergeRate = bytes / (double) (merged - start);
                double memcpyRate = bytes / (double) (copied - merged);
                System.out.printf("  %-9s merge %6.2f GB/s   memcpy %6.2f GB/s   ratio %.2f%n",
                        engine.kernels().name(), mergeRate, memcpyRate, mergeRate / memcpyRate);
            }
        }
    }

    private static Tensor filled(DType dtype, long... sizes) {
        Tensor t = Tensor.allocate(dtype, sizes);
        MemorySegment s = t.segment();
        for (long i = 0; i + 8 <= s.byteSize(); i += 8) {
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, i, i * 0x9E3779B97F4A7C15L);
        }
        return t;
    }
}
