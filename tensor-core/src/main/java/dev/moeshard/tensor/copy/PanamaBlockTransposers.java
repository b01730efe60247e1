package dev.moeshard.tensor.copy;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * L×L block transposes, one class per element type and lane count, each with its own constants.
 *
 * <p>Why not one generic method over {@code Vector<E>}: the JIT compiles vector operations to instructions only
 * where it knows the concrete vector class at the call. A generic method that has seen shorts and then ints sees
 * two classes at the same call sites, gives up, and falls back to boxed vectors, which run 10 to 100 times slower
 * (measured: a BF16 merge fell from 8 to 0.03 GB/s once the same JVM had merged F32). Each class here sees only
 * its own type, so its call sites stay monomorphic whatever else the process copies.
 *
 * <p>Each block: L loads down the source's contiguous direction, log2(L) rounds in which vector k and vector
 * k + L/2 give the interleave of their low halves (to 2k) and of their high halves (to 2k + 1), L stores along the
 * destination's rows; each round moves one bit of the row index into the lane index.
 */
final class PanamaBlockTransposers {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private PanamaBlockTransposers() {}

    /** The transposer for {@code width}-byte elements on this hardware, or null where scalar code is better. */
    static BlockTransposer forWidth(int width, int hardwareBits) {
        return switch (width) {
            case 2 -> hardwareBits >= 256 ? new Short16() : new Short8();
            case 4 -> hardwareBits >= 512 ? new Int16() : hardwareBits >= 256 ? new Int8() : null;
            case 8 -> hardwareBits >= 512 ? new Long8() : null;
            default -> null;
        };
    }

    /** Index vectors of the two-source selection: interleave of the low halves, then of the high halves. */
    static int[] interleave(int lanes, boolean high) {
        int[] idx = new int[lanes];
        for (int t = 0; t < lanes; t++) {
            idx[t] = ((t & 1) == 0 ? 0 : lanes) + (high ? lanes / 2 : 0) + t / 2;
        }
        return idx;
    }

    /** 16×16 blocks of shorts in 256-bit vectors. */
    static final class Short16 implements BlockTransposer {
        private static final VectorSpecies<Short> S = ShortVector.SPECIES_256;
        private static final ShortVector LO = index(false);
        private static final ShortVector HI = index(true);

        private static ShortVector index(boolean high) {
            int[] idx = interleave(16, high);
            short[] lanes = new short[16];
            for (int i = 0; i < 16; i++) {
                lanes[i] = (short) idx[i];
            }
            return ShortVector.fromArray(S, lanes, 0);
        }

        @Override
        public int lanes() {
            return 16;
        }

        @Override
        public void block(MemorySegment src, long s, long srcColStride, MemorySegment dst, long d, long dstRowStride) {
            ShortVector a0 = ShortVector.fromMemorySegment(S, src, s, LE);
            ShortVector a1 = ShortVector.fromMemorySegment(S, src, s + srcColStride, LE);
            ShortVector a2 = ShortVector.fromMemorySegment(S, src, s + 2 * srcColStride, LE);
            ShortVector a3 = ShortVector.fromMemorySegment(S, src, s + 3 * srcColStride, LE);
            ShortVector a4 = ShortVector.fromMemorySegment(S, src, s + 4 * srcColStride, LE);
            ShortVector a5 = ShortVector.fromMemorySegment(S, src, s + 5 * srcColStride, LE);
            ShortVector a6 = ShortVector.fromMemorySegment(S, src, s + 6 * srcColStride, LE);
            ShortVector a7 = ShortVector.fromMemorySegment(S, src, s + 7 * srcColStride, LE);
            ShortVector a8 = ShortVector.fromMemorySegment(S, src, s + 8 * srcColStride, LE);
            ShortVector a9 = ShortVector.fromMemorySegment(S, src, s + 9 * srcColStride, LE);
            ShortVector a10 = ShortVector.fromMemorySegment(S, src, s + 10 * srcColStride, LE);
            ShortVector a11 = ShortVector.fromMemorySegment(S, src, s + 11 * srcColStride, LE);
            ShortVector a12 = ShortVector.fromMemorySegment(S, src, s + 12 * srcColStride, LE);
            ShortVector a13 = ShortVector.fromMemorySegment(S, src, s + 13 * srcColStride, LE);
            ShortVector a14 = ShortVector.fromMemorySegment(S, src, s + 14 * srcColStride, LE);
            ShortVector a15 = ShortVector.fromMemorySegment(S, src, s + 15 * srcColStride, LE);
            for (int round = 0; round < 4; round++) {
                ShortVector b0 = LO.selectFrom(a0, a8);
                ShortVector b1 = HI.selectFrom(a0, a8);
                ShortVector b2 = LO.selectFrom(a1, a9);
                ShortVector b3 = HI.selectFrom(a1, a9);
                ShortVector b4 = LO.selectFrom(a2, a10);
                ShortVector b5 = HI.selectFrom(a2, a10);
                ShortVector b6 = LO.selectFrom(a3, a11);
                ShortVector b7 = HI.selectFrom(a3, a11);
                ShortVector b8 = LO.selectFrom(a4, a12);
                ShortVector b9 = HI.selectFrom(a4, a12);
                ShortVector b10 = LO.selectFrom(a5, a13);
                ShortVector b11 = HI.selectFrom(a5, a13);
                ShortVector b12 = LO.selectFrom(a6, a14);
                ShortVector b13 = HI.selectFrom(a6, a14);
                ShortVector b14 = LO.selectFrom(a7, a15);
                ShortVector b15 = HI.selectFrom(a7, a15);
                a0 = b0; a1 = b1; a2 = b2; a3 = b3; a4 = b4; a5 = b5; a6 = b6; a7 = b7;
                a8 = b8; a9 = b9; a10 = b10; a11 = b11; a12 = b12; a13 = b13; a14 = b14; a15 = b15;
            }
            a0.intoMemorySegment(dst, d, LE);
            a1.intoMemorySegment(dst, d + dstRowStride, LE);
            a2.intoMemorySegment(dst, d + 2 * dstRowStride, LE);
            a3.intoMemorySegment(dst, d + 3 * dstRowStride, LE);
            a4.intoMemorySegment(dst, d + 4 * dstRowStride, LE);
            a5.intoMemorySegment(dst, d + 5 * dstRowStride, LE);
            a6.intoMemorySegment(dst, d + 6 * dstRowStride, LE);
            a7.intoMemorySegment(dst, d + 7 * dstRowStride, LE);
            a8.intoMemorySegment(dst, d + 8 * dstRowStride, LE);
            a9.intoMemorySegment(dst, d + 9 * dstRowStride, LE);
            a10.intoMemorySegment(dst, d + 10 * dstRowStride, LE);
            a11.intoMemorySegment(dst, d + 11 * dstRowStride, LE);
            a12.intoMemorySegment(dst, d + 12 * dstRowStride, LE);
            a13.intoMemorySegment(dst, d + 13 * dstRowStride, LE);
            a14.intoMemorySegment(dst, d + 14 * dstRowStride, LE);
            a15.intoMemorySegment(dst, d + 15 * dstRowStride, LE);
        }
    }

    /** 8×8 blocks of shorts in 128-bit vectors. */
    static final class Short8 implements BlockTransposer {
        private static final VectorSpecies<Short> S = ShortVector.SPECIES_128;
        private static final ShortVector LO = index(false);
        private static final ShortVector HI = index(true);

        private static ShortVector index(boolean high) {
            int[] idx = interleave(8, high);
            short[] lanes = new short[8];
            for (int i = 0; i < 8; i++) {
                lanes[i] = (short) idx[i];
            }
            return ShortVector.fromArray(S, lanes, 0);
        }

        @Override
        public int lanes() {
            return 8;
        }

        @Override
        public void block(MemorySegment src, long s, long srcColStride, MemorySegment dst, long d, long dstRowStride) {
            ShortVector a0 = ShortVector.fromMemorySegment(S, src, s, LE);
            ShortVector a1 = ShortVector.fromMemorySegment(S, src, s + srcColStride, LE);
            ShortVector a2 = ShortVector.fromMemorySegment(S, src, s + 2 * srcColStride, LE);
            ShortVector a3 = ShortVector.fromMemorySegment(S, src, s + 3 * srcColStride, LE);
            ShortVector a4 = ShortVector.fromMemorySegment(S, src, s + 4 * srcColStride, LE);
            ShortVector a5 = ShortVector.fromMemorySegment(S, src, s + 5 * srcColStride, LE);
            ShortVector a6 = ShortVector.fromMemorySegment(S, src, s + 6 * srcColStride, LE);
            ShortVector a7 = ShortVector.fromMemorySegment(S, src, s + 7 * srcColStride, LE);
            for (int round = 0; round < 3; round++) {
                ShortVector b0 = LO.selectFrom(a0, a4);
                ShortVector b1 = HI.selectFrom(a0, a4);
                ShortVector b2 = LO.selectFrom(a1, a5);
                ShortVector b3 = HI.selectFrom(a1, a5);
                ShortVector b4 = LO.selectFrom(a2, a6);
                ShortVector b5 = HI.selectFrom(a2, a6);
                ShortVector b6 = LO.selectFrom(a3, a7);
                ShortVector b7 = HI.selectFrom(a3, a7);
                a0 = b0; a1 = b1; a2 = b2; a3 = b3; a4 = b4; a5 = b5; a6 = b6; a7 = b7;
            }
            a0.intoMemorySegment(dst, d, LE);
            a1.intoMemorySegment(dst, d + dstRowStride, LE);
            a2.intoMemorySegment(dst, d + 2 * dstRowStride, LE);
            a3.intoMemorySegment(dst, d + 3 * dstRowStride, LE);
            a4.intoMemorySegment(dst, d + 4 * dstRowStride, LE);
            a5.intoMemorySegment(dst, d + 5 * dstRowStride, LE);
            a6.intoMemorySegment(dst, d + 6 * dstRowStride, LE);
            a7.intoMemorySegment(dst, d + 7 * dstRowStride, LE);
        }
    }

    /** 16×16 blocks of ints in 512-bit vectors. */
    static final class Int16 implements BlockTransposer {
        private static final VectorSpecies<Integer> S = IntVector.SPECIES_512;
        private static final IntVector LO = index(false);
        private static final IntVector HI = index(true);

        private static IntVector index(boolean high) {
            int[] idx = interleave(16, high);
            int[] lanes = new int[16];
            for (int i = 0; i < 16; i++) {
                lanes[i] = (int) idx[i];
            }
            return IntVector.fromArray(S, lanes, 0);
        }

        @Override
        public int lanes() {
            return 16;
        }

        @Override
        public void block(MemorySegment src, long s, long srcColStride, MemorySegment dst, long d, long dstRowStride) {
            IntVector a0 = IntVector.fromMemorySegment(S, src, s, LE);
            IntVector a1 = IntVector.fromMemorySegment(S, src, s + srcColStride, LE);
            IntVector a2 = IntVector.fromMemorySegment(S, src, s + 2 * srcColStride, LE);
            IntVector a3 = IntVector.fromMemorySegment(S, src, s + 3 * srcColStride, LE);
            IntVector a4 = IntVector.fromMemorySegment(S, src, s + 4 * srcColStride, LE);
            IntVector a5 = IntVector.fromMemorySegment(S, src, s + 5 * srcColStride, LE);
            IntVector a6 = IntVector.fromMemorySegment(S, src, s + 6 * srcColStride, LE);
            IntVector a7 = IntVector.fromMemorySegment(S, src, s + 7 * srcColStride, LE);
            IntVector a8 = IntVector.fromMemorySegment(S, src, s + 8 * srcColStride, LE);
            IntVector a9 = IntVector.fromMemorySegment(S, src, s + 9 * srcColStride, LE);
            IntVector a10 = IntVector.fromMemorySegment(S, src, s + 10 * srcColStride, LE);
            IntVector a11 = IntVector.fromMemorySegment(S, src, s + 11 * srcColStride, LE);
            IntVector a12 = IntVector.fromMemorySegment(S, src, s + 12 * srcColStride, LE);
            IntVector a13 = IntVector.fromMemorySegment(S, src, s + 13 * srcColStride, LE);
            IntVector a14 = IntVector.fromMemorySegment(S, src, s + 14 * srcColStride, LE);
            IntVector a15 = IntVector.fromMemorySegment(S, src, s + 15 * srcColStride, LE);
            for (int round = 0; round < 4; round++) {
                IntVector b0 = LO.selectFrom(a0, a8);
                IntVector b1 = HI.selectFrom(a0, a8);
                IntVector b2 = LO.selectFrom(a1, a9);
                IntVector b3 = HI.selectFrom(a1, a9);
                IntVector b4 = LO.selectFrom(a2, a10);
                IntVector b5 = HI.selectFrom(a2, a10);
                IntVector b6 = LO.selectFrom(a3, a11);
                IntVector b7 = HI.selectFrom(a3, a11);
                IntVector b8 = LO.selectFrom(a4, a12);
                IntVector b9 = HI.selectFrom(a4, a12);
                IntVector b10 = LO.selectFrom(a5, a13);
                IntVector b11 = HI.selectFrom(a5, a13);
                IntVector b12 = LO.selectFrom(a6, a14);
                IntVector b13 = HI.selectFrom(a6, a14);
                IntVector b14 = LO.selectFrom(a7, a15);
                IntVector b15 = HI.selectFrom(a7, a15);
                a0 = b0; a1 = b1; a2 = b2; a3 = b3; a4 = b4; a5 = b5; a6 = b6; a7 = b7;
                a8 = b8; a9 = b9; a10 = b10; a11 = b11; a12 = b12; a13 = b13; a14 = b14; a15 = b15;
            }
            a0.intoMemorySegment(dst, d, LE);
            a1.intoMemorySegment(dst, d + dstRowStride, LE);
            a2.intoMemorySegment(dst, d + 2 * dstRowStride, LE);
            a3.intoMemorySegment(dst, d + 3 * dstRowStride, LE);
            a4.intoMemorySegment(dst, d + 4 * dstRowStride, LE);
            a5.intoMemorySegment(dst, d + 5 * dstRowStride, LE);
            a6.intoMemorySegment(dst, d + 6 * dstRowStride, LE);
            a7.intoMemorySegment(dst, d + 7 * dstRowStride, LE);
            a8.intoMemorySegment(dst, d + 8 * dstRowStride, LE);
            a9.intoMemorySegment(dst, d + 9 * dstRowStride, LE);
            a10.intoMemorySegment(dst, d + 10 * dstRowStride, LE);
            a11.intoMemorySegment(dst, d + 11 * dstRowStride, LE);
            a12.intoMemorySegment(dst, d + 12 * dstRowStride, LE);
            a13.intoMemorySegment(dst, d + 13 * dstRowStride, LE);
            a14.intoMemorySegment(dst, d + 14 * dstRowStride, LE);
            a15.intoMemorySegment(dst, d + 15 * dstRowStride, LE);
        }
    }

    /** 8×8 blocks of ints in 256-bit vectors. */
    static final class Int8 implements BlockTransposer {
        private static final VectorSpecies<Integer> S = IntVector.SPECIES_256;
        private static final IntVector LO = index(false);
        private static final IntVector HI = index(true);

        private static IntVector index(boolean high) {
            int[] idx = interleave(8, high);
            int[] lanes = new int[8];
            for (int i = 0; i < 8; i++) {
                lanes[i] = (int) idx[i];
            }
            return IntVector.fromArray(S, lanes, 0);
        }

        @Override
        public int lanes() {
            return 8;
        }

        @Override
        public void block(MemorySegment src, long s, long srcColStride, MemorySegment dst, long d, long dstRowStride) {
            IntVector a0 = IntVector.fromMemorySegment(S, src, s, LE);
            IntVector a1 = IntVector.fromMemorySegment(S, src, s + srcColStride, LE);
            IntVector a2 = IntVector.fromMemorySegment(S, src, s + 2 * srcColStride, LE);
            IntVector a3 = IntVector.fromMemorySegment(S, src, s + 3 * srcColStride, LE);
            IntVector a4 = IntVector.fromMemorySegment(S, src, s + 4 * srcColStride, LE);
            IntVector a5 = IntVector.fromMemorySegment(S, src, s + 5 * srcColStride, LE);
            IntVector a6 = IntVector.fromMemorySegment(S, src, s + 6 * srcColStride, LE);
            IntVector a7 = IntVector.fromMemorySegment(S, src, s + 7 * srcColStride, LE);
            for (int round = 0; round < 3; round++) {
                IntVector b0 = LO.selectFrom(a0, a4);
                IntVector b1 = HI.selectFrom(a0, a4);
                IntVector b2 = LO.selectFrom(a1, a5);
                IntVector b3 = HI.selectFrom(a1, a5);
                IntVector b4 = LO.selectFrom(a2, a6);
                IntVector b5 = HI.selectFrom(a2, a6);
                IntVector b6 = LO.selectFrom(a3, a7);
                IntVector b7 = HI.selectFrom(a3, a7);
                a0 = b0; a1 = b1; a2 = b2; a3 = b3; a4 = b4; a5 = b5; a6 = b6; a7 = b7;
            }
            a0.intoMemorySegment(dst, d, LE);
            a1.intoMemorySegment(dst, d + dstRowStride, LE);
            a2.intoMemorySegment(dst, d + 2 * dstRowStride, LE);
            a3.intoMemorySegment(dst, d + 3 * dstRowStride, LE);
            a4.intoMemorySegment(dst, d + 4 * dstRowStride, LE);
            a5.intoMemorySegment(dst, d + 5 * dstRowStride, LE);
            a6.intoMemorySegment(dst, d + 6 * dstRowStride, LE);
            a7.intoMemorySegment(dst, d + 7 * dstRowStride, LE);
        }
    }

    /** 8×8 blocks of longs in 512-bit vectors. */
    static final class Long8 implements BlockTransposer {
        private static final VectorSpecies<Long> S = LongVector.SPECIES_512;
        private static final LongVector LO = index(false);
        private static final LongVector HI = index(true);

        private static LongVector index(boolean high) {
            int[] idx = interleave(8, high);
            long[] lanes = new long[8];
            for (int i = 0; i < 8; i++) {
                lanes[i] = (long) idx[i];
            }
            return LongVector.fromArray(S, lanes, 0);
        }

        @Override
        public int lanes() {
            return 8;
        }

        @Override
        public void block(MemorySegment src, long s, long srcColStride, MemorySegment dst, long d, long dstRowStride) {
            LongVector a0 = LongVector.fromMemorySegment(S, src, s, LE);
            LongVector a1 = LongVector.fromMemorySegment(S, src, s + srcColStride, LE);
            LongVector a2 = LongVector.fromMemorySegment(S, src, s + 2 * srcColStride, LE);
            LongVector a3 = LongVector.fromMemorySegment(S, src, s + 3 * srcColStride, LE);
            LongVector a4 = LongVector.fromMemorySegment(S, src, s + 4 * srcColStride, LE);
            LongVector a5 = LongVector.fromMemorySegment(S, src, s + 5 * srcColStride, LE);
            LongVector a6 = LongVector.fromMemorySegment(S, src, s + 6 * srcColStride, LE);
            LongVector a7 = LongVector.fromMemorySegment(S, src, s + 7 * srcColStride, LE);
            for (int round = 0; round < 3; round++) {
                LongVector b0 = LO.selectFrom(a0, a4);
                LongVector b1 = HI.selectFrom(a0, a4);
                LongVector b2 = LO.selectFrom(a1, a5);
                LongVector b3 = HI.selectFrom(a1, a5);
                LongVector b4 = LO.selectFrom(a2, a6);
                LongVector b5 = HI.selectFrom(a2, a6);
                LongVector b6 = LO.selectFrom(a3, a7);
                LongVector b7 = HI.selectFrom(a3, a7);
                a0 = b0; a1 = b1; a2 = b2; a3 = b3; a4 = b4; a5 = b5; a6 = b6; a7 = b7;
            }
            a0.intoMemorySegment(dst, d, LE);
            a1.intoMemorySegment(dst, d + dstRowStride, LE);
            a2.intoMemorySegment(dst, d + 2 * dstRowStride, LE);
            a3.intoMemorySegment(dst, d + 3 * dstRowStride, LE);
            a4.intoMemorySegment(dst, d + 4 * dstRowStride, LE);
            a5.intoMemorySegment(dst, d + 5 * dstRowStride, LE);
            a6.intoMemorySegment(dst, d + 6 * dstRowStride, LE);
            a7.intoMemorySegment(dst, d + 7 * dstRowStride, LE);
        }
    }
}
