package dev.moeshard.tensor.copy;

import dev.moeshard.tensor.ElementAccess;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Copy kernels in plain Java: bulk {@link MemorySegment#copy} for runs, cache-blocked tiles for transposes.
 *
 * <p>Transposes of 2- and 4-byte elements move 8 bytes per memory access: a 4×4 block of 16-bit elements (or 2×2 of
 * 32-bit) is read as four (two) longs down the source's contiguous direction and shuffled in registers, so each
 * long written holds one destination row of the block. That quarters (halves) the loads and stores of the
 * element-by-element loop, which is what bounds a transpose in scalar code.
 */
public final class ScalarCopyKernels implements CopyKernels {
    /** Tile edge in elements: two 64×64 tiles of 4-byte elements (32 KiB) stay within a core's L1/L2 working set. */
    static final int TILE = 64;

    private static final long BYTES_ODD = 0x00FF00FF00FF00FFL;
    private static final long LOW_16_OF_32 = 0x0000FFFF0000FFFFL;
    private static final long HIGH_16_OF_32 = 0xFFFF0000FFFF0000L;
    private static final long LOW_32 = 0x00000000FFFFFFFFL;
    private static final long HIGH_32 = 0xFFFFFFFF00000000L;

    public static final ScalarCopyKernels INSTANCE = new ScalarCopyKernels();

    private ScalarCopyKernels() {}

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public void run(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long bytes) {
        MemorySegment.copy(src, srcOffset, dst, dstOffset, bytes);
    }

    @Override
    public void transpose(MemorySegment src, long srcOffset, long srcColStride,
                          MemorySegment dst, long dstOffset, long dstRowStride,
                          long rows, long cols, int width) {
        for (long r0 = 0; r0 < rows; r0 += TILE) {
            long rEnd = Math.min(rows, r0 + TILE);
            for (long c0 = 0; c0 < cols; c0 += TILE) {
                long cEnd = Math.min(cols, c0 + TILE);
                tile(src, srcOffset, srcColStride, dst, dstOffset, dstRowStride, r0, rEnd, c0, cEnd, width);
            }
        }
    }

    private static void tile(MemorySegment src, long srcOffset, long srcColStride,
                             MemorySegment dst, long dstOffset, long dstRowStride,
                             long r0, long rEnd, long c0, long cEnd, int width) {
        long r = r0;
        if (width == 1) {
            for (; r + 8 <= rEnd; r += 8) {
                long c = c0;
                for (; c + 8 <= cEnd; c += 8) {
                    block8x8(src, srcOffset + r + c * srcColStride, srcColStride,
                            dst, dstOffset + r * dstRowStride + c, dstRowStride);
                }
                elements(src, srcOffset, srcColStride, dst, dstOffset, dstRowStride, r, r + 8, c, cEnd, 1);
            }
        } else if (width == 2) {
            for (; r + 4 <= rEnd; r += 4) {
                long c = c0;
                for (; c + 4 <= cEnd; c += 4) {
                    block4x16(src, srcOffset + r * 2 + c * srcColStride, srcColStride,
                            dst, dstOffset + r * dstRowStride + c * 2, dstRowStride);
                }
                elements(src, srcOffset, srcColStride, dst, dstOffset, dstRowStride, r, r + 4, c, cEnd, 2);
            }
        } else if (width == 4) {
            for (; r + 2 <= rEnd; r += 2) {
                long c = c0;
                for (; c + 2 <= cEnd; c += 2) {
                    block2x32(src, srcOffset + r * 4 + c * srcColStride, srcColStride,
                            dst, dstOffset + r * dstRowStride + c * 4, dstRowStride);
                }
                elements(src, srcOffset, srcColStride, dst, dstOffset, dstRowStride, r, r + 2, c, cEnd, 4);
            }
        }
        elements(src, srcOffset, srcColStride, dst, dstOffset, dstRowStride, r, rEnd, c0, cEnd, width);
    }

    /**
     * A 4×4 block of 16-bit elements. Source longs a, b, c, d are columns 0..3, each holding rows 0..3 (lane i is
     * bits 16i..16i+15, little-endian). Two rounds of lane swaps give the rows:
     * <pre>
     *   a = [a0 a1 a2 a3]   ->  ab02 = [a0 b0 a2 b2]  ab13 = [a1 b1 a3 b3]   ->  row0 = [a0 b0 c0 d0]
     *   b = [b0 b1 b2 b3]       cd02 = [c0 d0 c2 d2]  cd13 = [c1 d1 c3 d3]       row1 = [a1 b1 c1 d1] ...
     * </pre>
     */
    private static void block4x16(MemorySegment src, long s, long srcColStride, MemorySegment dst, long d, long dstRowStride) {
        long a = src.get(ElementAccess.LONG, s);
        long b = src.get(ElementAccess.LONG, s + srcColStride);
        long c = src.get(ElementAccess.LONG, s + 2 * srcColStride);
        long e = src.get(ElementAccess.LONG, s + 3 * srcColStride);
        long ab02 = (a & LOW_16_OF_32) | ((b & LOW_16_OF_32) << 16);
        long ab13 = ((a >>> 16) & LOW_16_OF_32) | (b & HIGH_16_OF_32);
        long ce02 = (c & LOW_16_OF_32) | ((e & LOW_16_OF_32) << 16);
        long ce13 = ((c >>> 16) & LOW_16_OF_32) | (e & HIGH_16_OF_32);
        dst.set(ElementAccess.LONG, d, (ab02 & LOW_32) | (ce02 << 32));
        dst.set(ElementAccess.LONG, d + dstRowStride, (ab13 & LOW_32) | (ce13 << 32));
        dst.set(ElementAccess.LONG, d + 2 * dstRowStride, (ab02 >>> 32) | (ce02 & HIGH_32));
        dst.set(ElementAccess.LONG, d + 3 * dstRowStride, (ab13 >>> 32) | (ce13 & HIGH_32));
    }

    /**
     * An 8×8 block of bytes (FP8 weights): columns a0..a7, each holding rows 0..7, become the rows by three rounds
     * of swapping between pairs of longs, one byte, then two, then four bytes at a time:
     * <pre>
     *   round 1 (a0, a1): a0 = [a0.0 a1.0 a0.2 a1.2 ...]   a1 = [a0.1 a1.1 a0.3 a1.3 ...]
     *   round 2 (a0, a2): 16-bit pieces,  round 3 (a0, a4): 32-bit pieces  ->  a_k = row k
     * </pre>
     */
    private static void block8x8(MemorySegment src, long s, long srcColStride, MemorySegment dst, long d, long dstRowStride) {
        long[] a = new long[8];
        for (int i = 0; i < 8; i++) {
            a[i] = src.get(ElementAccess.LONG, s + i * srcColStride);
        }
        swap(a, 0, 1, 8, BYTES_ODD);
        swap(a, 2, 3, 8, BYTES_ODD);
        swap(a, 4, 5, 8, BYTES_ODD);
        swap(a, 6, 7, 8, BYTES_ODD);
        swap(a, 0, 2, 16, LOW_16_OF_32);
        swap(a, 1, 3, 16, LOW_16_OF_32);
        swap(a, 4, 6, 16, LOW_16_OF_32);
        swap(a, 5, 7, 16, LOW_16_OF_32);
        swap(a, 0, 4, 32, LOW_32);
        swap(a, 1, 5, 32, LOW_32);
        swap(a, 2, 6, 32, LOW_32);
        swap(a, 3, 7, 32, LOW_32);
        for (int i = 0; i < 8; i++) {
            dst.set(ElementAccess.LONG, d + i * dstRowStride, a[i]);
        }
    }

    /** Exchanges the pieces selected by {@code mask} of {@code a[j]} with those of {@code a[i]} shifted down. */
    private static void swap(long[] a, int i, int j, int shift, long mask) {
        long t = ((a[i] >>> shift) ^ a[j]) & mask;
        a[i] ^= t << shift;
        a[j] ^= t;
    }

    /** A 2×2 block of 32-bit elements: columns a = [a0 a1], b = [b0 b1] become rows [a0 b0], [a1 b1]. */
    private static void block2x32(MemorySegment src, long s, long srcColStride, MemorySegment dst, long d, long dstRowStride) {
        long a = src.get(ElementAccess.LONG, s);
        long b = src.get(ElementAccess.LONG, s + srcColStride);
        dst.set(ElementAccess.LONG, d, (a & LOW_32) | (b << 32));
        dst.set(ElementAccess.LONG, d + dstRowStride, (a >>> 32) | (b & HIGH_32));
    }

    private static void elements(MemorySegment src, long srcOffset, long srcColStride,
                                 MemorySegment dst, long dstOffset, long dstRowStride,
                                 long r0, long rEnd, long c0, long cEnd, int width) {
        for (long r = r0; r < rEnd; r++) {
            gatherRun(src, srcOffset + r * width + c0 * srcColStride, srcColStride,
                    dst, dstOffset + r * dstRowStride + c0 * width, width, cEnd - c0, width);
        }
    }

    @Override
    public void gather(MemorySegment src, long srcOffset, long srcStride,
                       MemorySegment dst, long dstOffset, long dstStride, long count, int width) {
        gatherRun(src, srcOffset, srcStride, dst, dstOffset, dstStride, count, width);
    }

    static void gatherRun(MemorySegment src, long srcOffset, long srcStride,
                          MemorySegment dst, long dstOffset, long dstStride, long count, int width) {
        switch (width) {
            case 1 -> {
                for (long i = 0; i < count; i++) {
                    dst.set(ValueLayout.JAVA_BYTE, dstOffset + i * dstStride, src.get(ValueLayout.JAVA_BYTE, srcOffset + i * srcStride));
                }
            }
            case 2 -> {
                for (long i = 0; i < count; i++) {
                    dst.set(ElementAccess.SHORT, dstOffset + i * dstStride, src.get(ElementAccess.SHORT, srcOffset + i * srcStride));
                }
            }
            case 4 -> {
                for (long i = 0; i < count; i++) {
                    dst.set(ElementAccess.INT, dstOffset + i * dstStride, src.get(ElementAccess.INT, srcOffset + i * srcStride));
                }
            }
            case 8 -> {
                for (long i = 0; i < count; i++) {
                    dst.set(ElementAccess.LONG, dstOffset + i * dstStride, src.get(ElementAccess.LONG, srcOffset + i * srcStride));
                }
            }
            default -> {
                for (long i = 0; i < count; i++) {
                    MemorySegment.copy(src, srcOffset + i * srcStride, dst, dstOffset + i * dstStride, width);
                }
            }
        }
    }
}
