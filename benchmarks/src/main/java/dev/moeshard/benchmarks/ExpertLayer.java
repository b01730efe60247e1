package dev.moeshard.benchmarks;

import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.Projection;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * One MoE layer held in both layouts at once: per-expert gate, up [I, H] and down [H, I] in their own allocations, as
 * a loader sees them, and grouped {@code gate_and_up_projs} [E, H, 2I] and {@code down_projs} [E, I, H]. Merge and
 * split benchmarks move bytes between the two; their memcpy moves the same bytes between the same memory without the
 * transposes, which is the bound a conversion that only moves bytes can approach.
 */
@State(Scope.Benchmark)
public class ExpertLayer {
    /** E x H x I: the target size first, then a small layer whose tensors fit in L1/L2. */
    @Param({"128x2048x768", "8x64x32"})
    public String layer;

    @Param({"BF16", "F32"})
    public String dtype;

    LayerShape shape;
    Tensor[] gate;
    Tensor[] up;
    Tensor[] down;
    Tensor gateAndUp;
    Tensor downProjs;
    /**
     * Each expert's gate, up and down, and their slots in the grouped tensors in HF orientation: a merge copies the
     * first into the second, a split the second into the first.
     */
    private final List<Tensor> perExpert = new ArrayList<>();
    private final List<Tensor> groupedSlots = new ArrayList<>();

    @Setup
    public void setUp() {
        shape = LayerShape.parse(layer);
        DType type = DType.parse(dtype);
        int e = shape.experts();
        long h = shape.hidden();
        long i = shape.intermediate();
        gate = new Tensor[e];
        up = new Tensor[e];
        down = new Tensor[e];
        for (int x = 0; x < e; x++) {
            gate[x] = filled(type, i, h);
            up[x] = filled(type, i, h);
            down[x] = filled(type, h, i);
        }
        gateAndUp = filled(type, e, h, 2 * i);
        downProjs = filled(type, e, i, h);
        pairUp();
    }

    /** Bytes one merge or one split moves (each is read once and written once). */
    long bytes() {
        return gateAndUp.byteSize() + downProjs.byteSize();
    }

    /**
     * HF→grouped: {@code gu[e, :, 0:I] ← gate_eᵀ}, {@code gu[e, :, I:2I] ← up_eᵀ}, {@code down[e] ← down_eᵀ}, all in
     * one {@code copyAll} as the conversion makes them.
     */
    void merge(CopyEngine engine) {
        engine.copyAll(groupedSlots, perExpert);
    }

    /** Grouped→HF, materialized into the per-expert tensors: the reverse of {@link #merge}. */
    void split(CopyEngine engine) {
        engine.copyAll(perExpert, groupedSlots);
    }

    /** The slots as the library maps them ({@link GroupedLayout#projection}), so that what is measured is its copy. */
    private void pairUp() {
        perExpert.clear();
        groupedSlots.clear();
        long i = shape.intermediate();
        GroupedLayout layout = GroupedLayout.DEEPEP;
        Tensor gates = layout.projection(gateAndUp, Projection.GATE, i, true);
        Tensor ups = layout.projection(gateAndUp, Projection.UP, i, true);
        Tensor downs = layout.projection(downProjs, Projection.DOWN, i, true);
        for (int e = 0; e < gate.length; e++) {
            perExpert.addAll(List.of(gate[e], up[e], down[e]));
            groupedSlots.addAll(List.of(gates.select(0, e), ups.select(0, e), downs.select(0, e)));
        }
    }

    private static Tensor filled(DType type, long... sizes) {
        Tensor t = Tensor.allocate(type, sizes);
        PatternFill.fill(t.segment());
        return t;
    }

    /** Raw copy of every per-expert tensor into the grouped storage, in order: the merge's bytes, no transposes. */
    void memcpyToGrouped() {
        MemorySegment gu = gateAndUp.segment();
        MemorySegment dn = downProjs.segment();
        long at = 0;
        long downAt = 0;
        for (int x = 0; x < gate.length; x++) {
            at = append(gate[x].segment(), gu, at);
            at = append(up[x].segment(), gu, at);
            downAt = append(down[x].segment(), dn, downAt);
        }
    }

    /** The reverse of {@link #memcpyToGrouped}: the split's bytes, no transposes. */
    void memcpyToPerExpert() {
        MemorySegment gu = gateAndUp.segment();
        MemorySegment dn = downProjs.segment();
        long at = 0;
        long downAt = 0;
        for (int x = 0; x < gate.length; x++) {
            at = take(gu, at, gate[x].segment());
            at = take(gu, at, up[x].segment());
            downAt = take(dn, downAt, down[x].segment());
        }
    }

    private static long append(MemorySegment from, MemorySegment to, long at) {
        MemorySegment.copy(from, 0, to, at, from.byteSize());
        return at + from.byteSize();
    }

    private static long take(MemorySegment from, long at, MemorySegment to) {
        MemorySegment.copy(from, at, to, 0, to.byteSize());
        return at + to.byteSize();
    }
}
