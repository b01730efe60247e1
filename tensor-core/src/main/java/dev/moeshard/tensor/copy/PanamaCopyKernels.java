package dev.moeshard.tensor.copy;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.Vector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Copy kernels on the Vector API. Loaded by name through {@link dev.moeshard.tensor.simd.VectorSupport} only.
 *
 * <p>Transposes of 2-, 4- and 8-byte elements work on L×L blocks, L = 16 or 8 lanes (see {@link PanamaVectors}):
 * L loads down the source's contiguous direction, log2(L) rounds of two-source lane selection (one permute
 * instruction each on AVX-512), L stores along the destination's rows. Every load and store is a full vector.
 * Large sources are read ahead chunk by chunk, and blocks are visited so that few source lines are live at once;
 * the constants below say why. Edges that do not fill a block go to the scalar kernel. One-byte elements are left to the scalar kernel: byte permutes across a whole vector need
 * AVX-512 VBMI, which many machines lack.
 */
final class PanamaCopyKernels implements CopyKernels {
    /** Runs shorter than this are copied with vector moves; longer ones with the bulk copy intrinsic. */
    private static final long SHORT_RUN_BYTES = 512;
    /**
     * Columns are taken in chunks of about this many source bytes: a chunk is read ahead sequentially into L2 (see
     * {@link SequentialPrefetch}) and then transposed, row band by row band, while it is still there.
     */
    private static final long CHUNK_BYTES = 256 * 1024;
    /** Sources smaller than this are likely in cache already; reading them ahead would only cost time. */
    private static final long PREFETCH_ABOVE_BYTES = 1024 * 1024;
    /**
     * Rows of a band, in blocks. Within a band, one group of L source lines is consumed whole before the next group
     * is loaded. Fewer lines live at once matters because the lines of one group often lie a power of two apart
     * (a [I, 2048] BF16 source has a 4096-byte row stride): they all map to the same L1 set, and a group larger than
     * the set's ways would evict itself.
     */
    private static final int BLOCKS_PER_BAND = 4;

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
        long columnBytes = rows * width;
        long chunkCols = Math.max(lanes, (CHUNK_BYTES / Math.max(columnBytes, 1)) / lanes * lanes);
        boolean prefetch = fullCols * srcColStride > PREFETCH_ABOVE_BYTES;
        long bandRows = (long) lanes * BLOCKS_PER_BAND;
        for (long c0 = 0; c0 < fullCols; c0 += chunkCols) {
            long cEnd = Math.min(fullCols, c0 + chunkCols);
            if (prefetch) {
                for (long c = c0; c < cEnd; c++) {
                    SequentialPrefetch.region(src, srcOffset + c * srcColStride, columnBytes);
                }
            }
            // Visit blocks so that the side whose lines crowd into fewest L1 sets has fewest lines live at once.
            if (rowBlocksFirst(srcColStride, dstRowStride, lanes)) {
                for (long r = 0; r < fullRows; r += lanes) {
                    for (long c = c0; c < cEnd; c += lanes) {
                        block(t, lanes, src, srcOffset + r * width + c * srcColStride, srcColStride,
                                dst, dstOffset + r * dstRowStride + c * width, dstRowStride);
                    }
                }
            } else {
                for (long r0 = 0; r0 < fullRows; r0 += bandRows) {
                    long rEnd = Math.min(fullRows, r0 + bandRows);
                    for (long c = c0; c < cEnd; c += lanes) {
                        for (long r = r0; r < rEnd; r += lanes) {
                            block(t, lanes, src, srcOffset + r * width + c * srcColStride, srcColStride,
                                    dst, dstOffset + r * dstRowStride + c * width, dstRowStride);
                        }
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

    /** One 16×16 block, as {@link #transposeBlock} with four rounds. */


    private static <E> void block(Typed<E> t, int lanes, MemorySegment src, long s, long srcColStride,
                                  MemorySegment dst, long d, long dstRowStride) {
        if (lanes == 16) {
            transposeBlock16(t, src, s, srcColStride, dst, d, dstRowStride);
        } else {
            transposeBlock(t, src, s, srcColStride, dst, d, dstRowStride);
        }
    }

    /** L1 sets that {@code lanes} lines {@code stride} bytes apart fall into (64 sets of 64-byte lines). */
    private static int distinctSets(long stride, int lanes) {
        long seen = 0;
        for (int k = 0; k < lanes; k++) {
            seen |= 1L << ((k * stride / 64) & 63);
        }
        return Long.bitCount(seen);
    }

    /**
     * Row blocks first keeps L destination rows live (each written whole across the chunk) and many source lines;
     * column groups first keeps L source lines live and many destination rows. The better order is the one that
     * asks fewer lines of the side that maps into fewer sets.
     */
    private static boolean rowBlocksFirst(long srcColStride, long dstRowStride, int lanes) {
        return distinctSets(dstRowStride, lanes) < distinctSets(srcColStride, lanes);
    }

    private static <E> void transposeBlock16(Typed<E> t, MemorySegment src, long s, long srcColStride,
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
        Vector<E> a8 = sp.fromMemorySegment(src, s + 8 * srcColStride, PanamaVectors.ORDER);
        Vector<E> a9 = sp.fromMemorySegment(src, s + 9 * srcColStride, PanamaVectors.ORDER);
        Vector<E> a10 = sp.fromMemorySegment(src, s + 10 * srcColStride, PanamaVectors.ORDER);
        Vector<E> a11 = sp.fromMemorySegment(src, s + 11 * srcColStride, PanamaVectors.ORDER);
        Vector<E> a12 = sp.fromMemorySegment(src, s + 12 * srcColStride, PanamaVectors.ORDER);
        Vector<E> a13 = sp.fromMemorySegment(src, s + 13 * srcColStride, PanamaVectors.ORDER);
        Vector<E> a14 = sp.fromMemorySegment(src, s + 14 * srcColStride, PanamaVectors.ORDER);
        Vector<E> a15 = sp.fromMemorySegment(src, s + 15 * srcColStride, PanamaVectors.ORDER);
        for (int round = 0; round < 4; round++) {
            Vector<E> b0 = lo.selectFrom(a0, a8);
            Vector<E> b1 = hi.selectFrom(a0, a8);
            Vector<E> b2 = lo.selectFrom(a1, a9);
            Vector<E> b3 = hi.selectFrom(a1, a9);
            Vector<E> b4 = lo.selectFrom(a2, a10);
            Vector<E> b5 = hi.selectFrom(a2, a10);
            Vector<E> b6 = lo.selectFrom(a3, a11);
            Vector<E> b7 = hi.selectFrom(a3, a11);
            Vector<E> b8 = lo.selectFrom(a4, a12);
            Vector<E> b9 = hi.selectFrom(a4, a12);
            Vector<E> b10 = lo.selectFrom(a5, a13);
            Vector<E> b11 = hi.selectFrom(a5, a13);
            Vector<E> b12 = lo.selectFrom(a6, a14);
            Vector<E> b13 = hi.selectFrom(a6, a14);
            Vector<E> b14 = lo.selectFrom(a7, a15);
            Vector<E> b15 = hi.selectFrom(a7, a15);
            a0 = b0; a1 = b1; a2 = b2; a3 = b3; a4 = b4; a5 = b5; a6 = b6; a7 = b7;
            a8 = b8; a9 = b9; a10 = b10; a11 = b11; a12 = b12; a13 = b13; a14 = b14; a15 = b15;
        }
        a0.intoMemorySegment(dst, d, PanamaVectors.ORDER);
        a1.intoMemorySegment(dst, d + dstRowStride, PanamaVectors.ORDER);
        a2.intoMemorySegment(dst, d + 2 * dstRowStride, PanamaVectors.ORDER);
        a3.intoMemorySegment(dst, d + 3 * dstRowStride, PanamaVectors.ORDER);
        a4.intoMemorySegment(dst, d + 4 * dstRowStride, PanamaVectors.ORDER);
        a5.intoMemorySegment(dst, d + 5 * dstRowStride, PanamaVectors.ORDER);
        a6.intoMemorySegment(dst, d + 6 * dstRowStride, PanamaVectors.ORDER);
        a7.intoMemorySegment(dst, d + 7 * dstRowStride, PanamaVectors.ORDER);
        a8.intoMemorySegment(dst, d + 8 * dstRowStride, PanamaVectors.ORDER);
        a9.intoMemorySegment(dst, d + 9 * dstRowStride, PanamaVectors.ORDER);
        a10.intoMemorySegment(dst, d + 10 * dstRowStride, PanamaVectors.ORDER);
        a11.intoMemorySegment(dst, d + 11 * dstRowStride, PanamaVectors.ORDER);
        a12.intoMemorySegment(dst, d + 12 * dstRowStride, PanamaVectors.ORDER);
        a13.intoMemorySegment(dst, d + 13 * dstRowStride, PanamaVectors.ORDER);
        a14.intoMemorySegment(dst, d + 14 * dstRowStride, PanamaVectors.ORDER);
        a15.intoMemorySegment(dst, d + 15 * dstRowStride, PanamaVectors.ORDER);
    }

    @Override
    public void gather(MemorySegment src, long srcOffset, long srcStride,
                       MemorySegment dst, long dstOffset, long dstStride, long count, int width) {
        // A strided gather has no contiguous side to vectorise; the scalar loop is as good as it gets.
        scalar.gather(src, srcOffset, srcStride, dst, dstOffset, dstStride, count, width);
    }
}
