package dev.moeshard.tensor.copy;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Candidate 16-bit block transposers that avoid 16-bit permutes, for {@link TransposeOrderProbe} and
 * {@link BlockKernelProbe}. Rows 2k and 2k + 1 of the source are first paired into 32-bit lanes with shifts and masks
 * (even destination rows from the low halves, odd ones from the high halves); what is left is a transpose of 32-bit
 * lanes, done with the same rounds of two-source interleaves as the project's {@code Int8} and {@code Int16}.
 *
 * <p>One class per vector shape, as in {@code PanamaBlockTransposers} and for its reason: a method shared by two shapes
 * falls back to boxed vectors. The pairing is written out for each pair of rows on purpose: moved into a helper method, it was not inlined into
 * the large block method, and the block ran three times slower.
 */
final class PairedShortBlocks {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private PairedShortBlocks() {}

    /** 16×16 blocks of shorts: 256-bit loads, then two 8×8 transposes of 32-bit lanes. */
    static final class Pairs16 implements BlockTransposer {
        private static final VectorSpecies<Integer> S = IntVector.SPECIES_256;
        private static final IntVector LO = IntVector.fromArray(S, PanamaBlockTransposers.interleave(8, false), 0);
        private static final IntVector HI = IntVector.fromArray(S, PanamaBlockTransposers.interleave(8, true), 0);

        @Override
        public int lanes() {
            return 16;
        }

        @Override
        public void block(MemorySegment src, long s, long cs, MemorySegment dst, long d, long rs) {
            for (int parity = 0; parity < 2; parity++) {
                int down = parity * 16;
                int up = 16 - down;
                IntVector v0 = IntVector.fromMemorySegment(S, src, s + 0 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 1 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v1 = IntVector.fromMemorySegment(S, src, s + 2 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 3 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v2 = IntVector.fromMemorySegment(S, src, s + 4 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 5 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v3 = IntVector.fromMemorySegment(S, src, s + 6 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 7 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v4 = IntVector.fromMemorySegment(S, src, s + 8 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 9 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v5 = IntVector.fromMemorySegment(S, src, s + 10 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 11 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v6 = IntVector.fromMemorySegment(S, src, s + 12 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 13 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v7 = IntVector.fromMemorySegment(S, src, s + 14 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 15 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                for (int round = 0; round < 3; round++) {
                    IntVector b0 = LO.selectFrom(v0, v4);
                    IntVector b1 = HI.selectFrom(v0, v4);
                    IntVector b2 = LO.selectFrom(v1, v5);
                    IntVector b3 = HI.selectFrom(v1, v5);
                    IntVector b4 = LO.selectFrom(v2, v6);
                    IntVector b5 = HI.selectFrom(v2, v6);
                    IntVector b6 = LO.selectFrom(v3, v7);
                    IntVector b7 = HI.selectFrom(v3, v7);
                    v0 = b0;
                    v1 = b1;
                    v2 = b2;
                    v3 = b3;
                    v4 = b4;
                    v5 = b5;
                    v6 = b6;
                    v7 = b7;
                }
                v0.intoMemorySegment(dst, d + (0 + parity) * rs, LE);
                v1.intoMemorySegment(dst, d + (2 + parity) * rs, LE);
                v2.intoMemorySegment(dst, d + (4 + parity) * rs, LE);
                v3.intoMemorySegment(dst, d + (6 + parity) * rs, LE);
                v4.intoMemorySegment(dst, d + (8 + parity) * rs, LE);
                v5.intoMemorySegment(dst, d + (10 + parity) * rs, LE);
                v6.intoMemorySegment(dst, d + (12 + parity) * rs, LE);
                v7.intoMemorySegment(dst, d + (14 + parity) * rs, LE);
            }
        }
    }

    /** 32×32 blocks of shorts: 512-bit loads (whole source lines), then two 16×16 transposes of 32-bit lanes. */
    static final class Pairs32 implements BlockTransposer {
        private static final VectorSpecies<Integer> S = IntVector.SPECIES_512;
        private static final IntVector LO = IntVector.fromArray(S, PanamaBlockTransposers.interleave(16, false), 0);
        private static final IntVector HI = IntVector.fromArray(S, PanamaBlockTransposers.interleave(16, true), 0);

        @Override
        public int lanes() {
            return 32;
        }

        @Override
        public void block(MemorySegment src, long s, long cs, MemorySegment dst, long d, long rs) {
            for (int parity = 0; parity < 2; parity++) {
                int down = parity * 16;
                int up = 16 - down;
                IntVector v0 = IntVector.fromMemorySegment(S, src, s + 0 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 1 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v1 = IntVector.fromMemorySegment(S, src, s + 2 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 3 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v2 = IntVector.fromMemorySegment(S, src, s + 4 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 5 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v3 = IntVector.fromMemorySegment(S, src, s + 6 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 7 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v4 = IntVector.fromMemorySegment(S, src, s + 8 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 9 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v5 = IntVector.fromMemorySegment(S, src, s + 10 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 11 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v6 = IntVector.fromMemorySegment(S, src, s + 12 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 13 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v7 = IntVector.fromMemorySegment(S, src, s + 14 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 15 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v8 = IntVector.fromMemorySegment(S, src, s + 16 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 17 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v9 = IntVector.fromMemorySegment(S, src, s + 18 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 19 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v10 = IntVector.fromMemorySegment(S, src, s + 20 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 21 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v11 = IntVector.fromMemorySegment(S, src, s + 22 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 23 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v12 = IntVector.fromMemorySegment(S, src, s + 24 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 25 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v13 = IntVector.fromMemorySegment(S, src, s + 26 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 27 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v14 = IntVector.fromMemorySegment(S, src, s + 28 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 29 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                IntVector v15 = IntVector.fromMemorySegment(S, src, s + 30 * cs, LE)
                        .lanewise(VectorOperators.LSHR, down).and(0xFFFF)
                        .or(IntVector.fromMemorySegment(S, src, s + 31 * cs, LE)
                                .lanewise(VectorOperators.LSHL, up).and(0xFFFF0000));
                for (int round = 0; round < 4; round++) {
                    IntVector b0 = LO.selectFrom(v0, v8);
                    IntVector b1 = HI.selectFrom(v0, v8);
                    IntVector b2 = LO.selectFrom(v1, v9);
                    IntVector b3 = HI.selectFrom(v1, v9);
                    IntVector b4 = LO.selectFrom(v2, v10);
                    IntVector b5 = HI.selectFrom(v2, v10);
                    IntVector b6 = LO.selectFrom(v3, v11);
                    IntVector b7 = HI.selectFrom(v3, v11);
                    IntVector b8 = LO.selectFrom(v4, v12);
                    IntVector b9 = HI.selectFrom(v4, v12);
                    IntVector b10 = LO.selectFrom(v5, v13);
                    IntVector b11 = HI.selectFrom(v5, v13);
                    IntVector b12 = LO.selectFrom(v6, v14);
                    IntVector b13 = HI.selectFrom(v6, v14);
                    IntVector b14 = LO.selectFrom(v7, v15);
                    IntVector b15 = HI.selectFrom(v7, v15);
                    v0 = b0;
                    v1 = b1;
                    v2 = b2;
                    v3 = b3;
                    v4 = b4;
                    v5 = b5;
                    v6 = b6;
                    v7 = b7;
                    v8 = b8;
                    v9 = b9;
                    v10 = b10;
                    v11 = b11;
                    v12 = b12;
                    v13 = b13;
                    v14 = b14;
                    v15 = b15;
                }
                v0.intoMemorySegment(dst, d + (0 + parity) * rs, LE);
                v1.intoMemorySegment(dst, d + (2 + parity) * rs, LE);
                v2.intoMemorySegment(dst, d + (4 + parity) * rs, LE);
                v3.intoMemorySegment(dst, d + (6 + parity) * rs, LE);
                v4.intoMemorySegment(dst, d + (8 + parity) * rs, LE);
                v5.intoMemorySegment(dst, d + (10 + parity) * rs, LE);
                v6.intoMemorySegment(dst, d + (12 + parity) * rs, LE);
                v7.intoMemorySegment(dst, d + (14 + parity) * rs, LE);
                v8.intoMemorySegment(dst, d + (16 + parity) * rs, LE);
                v9.intoMemorySegment(dst, d + (18 + parity) * rs, LE);
                v10.intoMemorySegment(dst, d + (20 + parity) * rs, LE);
                v11.intoMemorySegment(dst, d + (22 + parity) * rs, LE);
                v12.intoMemorySegment(dst, d + (24 + parity) * rs, LE);
                v13.intoMemorySegment(dst, d + (26 + parity) * rs, LE);
                v14.intoMemorySegment(dst, d + (28 + parity) * rs, LE);
                v15.intoMemorySegment(dst, d + (30 + parity) * rs, LE);
            }
        }
    }
}
