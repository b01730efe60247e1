package dev.moeshard.benchmarks;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.lang.foreign.MemorySegment;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * One shape of copy for the copy engine's kernels, on a matrix [R, C], with the memcpy that moves the same bytes
 * between the same two buffers:
 * <ul>
 *   <li>{@code contiguous}: [R, C] BF16 into [R, C], the bulk-run kernel;
 *   <li>{@code transposeN}: [C, R]ᵀ into [R, C] for elements of N bytes (U8, BF16, F32, F64), the tile kernels;
 *   <li>{@code interleave}: gate and up [R, C] into the even and odd columns of [R, 2C] (GPT-OSS's gate_up);
 *   <li>{@code deinterleave}: the reverse, through {@code slice(1, k, 2C, 2)}.
 * </ul>
 * An odd matrix such as 2047x769 leaves partial tiles and partial vectors at every edge, so it measures the tails.
 */
@State(Scope.Benchmark)
public class KernelCase {
    @Param({"contiguous", "transpose1", "transpose2", "transpose4", "transpose8", "interleave", "deinterleave"})
    public String kind;

    /** R x C. */
    @Param({"2048x768", "2047x769"})
    public String matrix;

    private Tensor[] sources;
    private Tensor[] targets;
    private MemorySegment packed;
    private boolean packedIsTarget;

    @Setup
    public void setUp() {
        String[] rc = matrix.split("x");
        long r = Long.parseLong(rc[0]);
        long c = Long.parseLong(rc[1]);
        switch (kind) {
            case "contiguous" -> pair(filled(DType.BF16, r, c), Tensor.allocate(DType.BF16, r, c));
            case "transpose1" -> pair(filled(DType.U8, c, r).t(), Tensor.allocate(DType.U8, r, c));
            case "transpose2" -> pair(filled(DType.BF16, c, r).t(), Tensor.allocate(DType.BF16, r, c));
            case "transpose4" -> pair(filled(DType.F32, c, r).t(), Tensor.allocate(DType.F32, r, c));
            case "transpose8" -> pair(filled(DType.F64, c, r).t(), Tensor.allocate(DType.F64, r, c));
            case "interleave" -> {
                Tensor fused = Tensor.allocate(DType.BF16, r, 2 * c);
                sources = new Tensor[] {filled(DType.BF16, r, c), filled(DType.BF16, r, c)};
                targets = new Tensor[] {fused.slice(1, 0, 2 * c, 2), fused.slice(1, 1, 2 * c, 2)};
                packed = fused.storage();
                packedIsTarget = true;
            }
            case "deinterleave" -> {
                Tensor fused = filled(DType.BF16, r, 2 * c);
                sources = new Tensor[] {fused.slice(1, 0, 2 * c, 2), fused.slice(1, 1, 2 * c, 2)};
                targets = new Tensor[] {Tensor.allocate(DType.BF16, r, c), Tensor.allocate(DType.BF16, r, c)};
                packed = fused.storage();
                packedIsTarget = false;
            }
            default -> throw new IllegalArgumentException("unknown kernel case '" + kind + "'");
        }
        for (Tensor t : targets) {
            PatternFill.fill(t.storage()); // touch the pages so the first copy pays no faults
        }
    }

    private void pair(Tensor source, Tensor target) {
        sources = new Tensor[] {source};
        targets = new Tensor[] {target};
    }

    private static Tensor filled(DType type, long... sizes) {
        Tensor t = Tensor.allocate(type, sizes);
        PatternFill.fill(t.segment());
        return t;
    }

    void copy(CopyEngine engine) {
        for (int k = 0; k < sources.length; k++) {
            engine.copy(targets[k], sources[k]);
        }
    }

    /** The same bytes, from the same source memory to the same target memory, as plain bulk copies. */
    void memcpy() {
        if (packed == null) {
            MemorySegment.copy(sources[0].storage(), 0, targets[0].storage(), 0, targets[0].byteSize());
            return;
        }
        long at = 0;
        for (int k = 0; k < sources.length; k++) {
            MemorySegment half = (packedIsTarget ? sources[k] : targets[k]).storage();
            if (packedIsTarget) {
                MemorySegment.copy(half, 0, packed, at, half.byteSize());
            } else {
                MemorySegment.copy(packed, at, half, 0, half.byteSize());
            }
            at += half.byteSize();
        }
    }
}
