package dev.moeshard.tensor.copy;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.Vector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Copy kernels on the Vector API. Loaded by name through {@link dev.moeshard.tensor.simd.VectorSupport} only.
 *
 * <p>Transposes of 2-, 4- and 8-byte elements work on 8×8 blocks held in 8-lane vectors (128, 256 or 512 bits):
 * eight loads down the source's contiguous direction, three rounds of two-source lane selection (one permute
 * instruction each on AVX-512), eight stores along the destination's rows. Every load and store is a full vector, so a transpose moves
 * data at close to the rate of a plain copy while it stays in cache. Edges that do not fill a block go to the
 * scalar kernel. One-byte elements are left to the scalar kernel: byte permutes across a whole vector need
 * AVX-512 VBMI, which many machines lack.
 */
final class PanamaCopyKernels implements CopyKernels {
    /** Runs shorter than this are copied with vector moves; longer ones with the bulk copy intrinsic. */
    private static final long SHORT_RUN_BYTES = 512;
    /** Blocks of blocks: a 4×4 arrangement of L×L blocks keeps the source lines of a tile in L1. */
    private static final int BLOCKS_PER_TILE = 4;

    private final ScalarCopyKernels scalar = ScalarCopyKernels.INSTANCE;

    @Override
    public String name() {
        return "simd-" + PanamaVectors.BYTES.vectorBitSize();
    }

    @Override
    public void run(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long bytes) {
        if (bytes >= SHORT_RUN_BYTES) {
            MemorySegment.copy(src, srcOffset, dst, dstOffset, bytes);
            return;
        }
        VectorSpecies<Byte> species = PanamaVectors.BYTES;
        long i = 0;
        long full = bytes - bytes % species.length();
        for (; i < full; i += species.length()) {
            ByteVector.fromMemorySegment(species, src, srcOffset + i, PanamaVectors.ORDER)
                    .intoMemorySegment(dst, dstOffset + i, PanamaVectors.ORDER);
        }
        if (i < bytes) {
            VectorMask<Byte> tail = species.indexInRange(i, bytes);
            ByteVector.fromMemorySegment(species, src, srcOffset + i, PanamaVectors.ORDER, tail)
                    .intoMemorySegment(dst, dstOffset + i, PanamaVectors.ORDER, tail);
        }
    }

    @Override
    public void transpose(MemorySegment src, long srcOffset, long srcColStride,
                          MemorySegment dst, long dstOffset, long dstRowStride,
                          long rows, long cols, int width) {
        PanamaVectors.Interleave interleave = switch (width) {
            case 2 -> PanamaVectors.SHORT_INTERLEAVE;
            case 4 -> PanamaVectors.INT_INTERLEAVE;
            case 8 -> PanamaVectors.LONG_INTERLEAVE;
            default -> null;
        };
        if (interleave == null) {
            scalar.transpose(src, srcOffset, srcColStride, dst, dstOffset, dstRowStride, rows, cols, width);
            return;
        }
        blocked(cast(interleave), src, srcOffset, srcColStride, dst, dstOffset, dstRowStride, rows, cols, width);
    }

    @SuppressWarnings("unchecked")
    private static <E> Typed<E> cast(PanamaVectors.Interleave interleave) {
        return new Typed<>((VectorSpecies<E>) interleave.species, (Vector<E>) interleave.low, (Vector<E>) interleave.high);
    }

    private record Typed<E>(VectorSpecies<E> species, Vector<E> low, Vector<E> high) {}

    private <E> void blocked(Typed<E> t, MemorySegment src, long srcOffset, long srcColStride,
                             MemorySegment dst, long dstOffset, long dstRowStride,
                             long rows, long cols, int width) {
        int lanes = t.species.length();
        long fullRows = rows - rows % lanes;
        long fullCols = cols - cols % lanes;
        long tile = (long) lanes * BLOCKS_PER_TILE;
        for (long r0 = 0; r0 < fullRows; r0 += tile) {
            long rEnd = Math.min(fullRows, r0 + tile);
            for (long c0 = 0; c0 < fullCols; c0 += tile) {
                long cEnd = Math.min(fullCols, c0 + tile);
                for (long r = r0; r < rEnd; r += lanes) {
                    for (long c = c0; c < cEnd; c += lanes) {
                        transposeBlock(t, src, srcOffset + r * width + c * srcColStride, srcColStride,
                                dst, dstOffset + r * dstRowStride + c * width, dstRowStride);
                    }
                }
            }
        }
        // Edges: the columns right of the last full block, then the rows below it.
        if (fullCols < cols) {
            scalar.transpose(src, srcOffset + fullCols * srcColStride, srcColStride,
                    dst, dstOffset + fullCols * width, dstRowStride, fullRows, cols - fullCols, width);
        }
        if (fullRows < rows) {
            scalar.transpose(src, srcOffset + fullRows * width, srcColStride,
                    dst, dstOffset + fullRows * dstRowStride, dstRowStride, rows - fullRows, cols, width);
        }
    }

    /**
     * One 8×8 block: eight loads, three rounds of interleaves (pairing vector k with k + 4), eight stores. Kept in
     * named locals rather than an array so that the JIT keeps every vector in a register.
     */
    private static <E> void transposeBlock(Typed<E> t, MemorySegment src, long s, long srcColStride,
                                           MemorySegment dst, long d, long dstRowStride) {
        VectorSpecies<E> sp = t.species;
        Vector<E> lo = t.low;
        Vector<E> hi = t.high;
        Vector<E> a0 = sp.fromMemorySegment(src, s, PanamaVectors.ORDER);
        Vector<E> a1 = sp.fromMemorySegment(src, s + srcColStride, PanamaVectors.ORDER);
        Vector<E> a2 = sp.fromMemorySegment(src, s + 2 * srcColStride, PanamaVectors.ORDER);
        Vector<E> a3 = sp.fromMemorySegment(src, s + 3 * srcColStride, PanamaVectors.ORDER);
        Vector<E> a4 = sp.fromMemorySegment(src, s + 4 * srcColStride, PanamaVectors.ORDER);
        Vector<E> a5 = sp.fromMemorySegment(src, s + 5 * srcColStride, PanamaVectors.ORDER);
        Vector<E> a6 = sp.fromMemorySegment(src, s + 6 * srcColStride, PanamaVectors.ORDER);
        Vector<E> a7 = sp.fromMemorySegment(src, s + 7 * srcColStride, PanamaVectors.ORDER);
        for (int round = 0; round < 3; round++) {
            Vector<E> b0 = lo.selectFrom(a0, a4);
            Vector<E> b1 = hi.selectFrom(a0, a4);
            Vector<E> b2 = lo.selectFrom(a1, a5);
            Vector<E> b3 = hi.selectFrom(a1, a5);
            Vector<E> b4 = lo.selectFrom(a2, a6);
            Vector<E> b5 = hi.selectFrom(a2, a6);
            Vector<E> b6 = lo.selectFrom(a3, a7);
            Vector<E> b7 = hi.selectFrom(a3, a7);
            a0 = b0; a1 = b1; a2 = b2; a3 = b3; a4 = b4; a5 = b5; a6 = b6; a7 = b7;
        }
        a0.intoMemorySegment(dst, d, PanamaVectors.ORDER);
        a1.intoMemorySegment(dst, d + dstRowStride, PanamaVectors.ORDER);
        a2.intoMemorySegment(dst, d + 2 * dstRowStride, PanamaVectors.ORDER);
        a3.intoMemorySegment(dst, d + 3 * dstRowStride, PanamaVectors.ORDER);
        a4.intoMemorySegment(dst, d + 4 * dstRowStride, PanamaVectors.ORDER);
        a5.intoMemorySegment(dst, d + 5 * dstRowStride, PanamaVectors.ORDER);
        a6.intoMemorySegment(dst, d + 6 * dstRowStride, PanamaVectors.ORDER);
        a7.intoMemorySegment(dst, d + 7 * dstRowStride, PanamaVectors.ORDER);
    }

    @Override
    public void gather(MemorySegment src, long srcOffset, long srcStride,
                       MemorySegment dst, long dstOffset, long dstStride, long count, int width) {
        // A strided gather has no contiguous side to vectorise; the scalar loop is as good as it gets.
        scalar.gather(src, srcOffset, srcStride, dst, dstOffset, dstStride, count, width);
    }
}
