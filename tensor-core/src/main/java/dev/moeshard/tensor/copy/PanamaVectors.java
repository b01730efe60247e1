package dev.moeshard.tensor.copy;

import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.Vector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector constants of the copy kernels, in a holder of their own so that only a class that already decided to use
 * SIMD initialises the Vector API.
 */
final class PanamaVectors {
    static final VectorSpecies<Byte> BYTES = ByteVector.SPECIES_PREFERRED;
    static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    private static final int HARDWARE_BITS = BYTES.vectorBitSize();

    /**
     * The transpose's block for each element width: 16×16 where the hardware holds 16 lanes of it in one register
     * (a 16×16 block needs 4 rounds of 16 permutes for 16 loads of a full 32 or 64 bytes, against 3 rounds of 8 for
     * 8 loads of 16 or 32 bytes in an 8×8 block: 40% fewer instructions per byte), else 8×8, else none. Null where
     * even 8 lanes would be wider than the hardware's vectors: emulated lanes are far slower than scalar code.
     */
    static final Interleave SHORT_INTERLEAVE = new Interleave(HARDWARE_BITS >= 256 ? ShortVector.SPECIES_256 : ShortVector.SPECIES_128);
    static final Interleave INT_INTERLEAVE = HARDWARE_BITS >= 512 ? new Interleave(IntVector.SPECIES_512)
            : HARDWARE_BITS >= 256 ? new Interleave(IntVector.SPECIES_256) : null;
    static final Interleave LONG_INTERLEAVE = HARDWARE_BITS >= 512 ? new Interleave(LongVector.SPECIES_512) : null;

    private PanamaVectors() {}

    /**
     * Index vectors for the two-source lane selection that interleaves the low (or high) halves of two vectors:
     * {@code lo(a, b) = [a0 b0 a1 b1 ...]}, {@code hi(a, b) = [a(L/2) b(L/2) ...]}. Applying the interleave
     * log2(L) times to L vectors, pairing vector k with vector k + L/2 and storing the pair's results at 2k and 2k + 1,
     * transposes the L×L block: each round moves one bit of the row index into the lane index.
     */
    static final class Interleave {
        final VectorSpecies<?> species;
        final Vector<?> low;
        final Vector<?> high;

        Interleave(VectorSpecies<?> species) {
            this.species = species;
            int lanes = species.length();
            int[] lo = new int[lanes];
            int[] hi = new int[lanes];
            for (int t = 0; t < lanes; t++) {
                int fromSecond = (t & 1) == 0 ? 0 : lanes;
                lo[t] = fromSecond + t / 2;
                hi[t] = fromSecond + lanes / 2 + t / 2;
            }
            this.low = indexVector(species, lo);
            this.high = indexVector(species, hi);
        }

        private static Vector<?> indexVector(VectorSpecies<?> species, int[] indices) {
            // Index values reach 2L-1, beyond a shuffle's range, so they are built as lanes of the element type.
            long[] wide = new long[indices.length];
            for (int i = 0; i < indices.length; i++) {
                wide[i] = indices[i];
            }
            return species.fromArray(convertLanes(species, wide), 0);
        }

        private static Object convertLanes(VectorSpecies<?> species, long[] values) {
            Class<?> e = species.elementType();
            if (e == short.class) {
                short[] out = new short[values.length];
                for (int i = 0; i < values.length; i++) out[i] = (short) values[i];
                return out;
            }
            if (e == int.class) {
                int[] out = new int[values.length];
                for (int i = 0; i < values.length; i++) out[i] = (int) values[i];
                return out;
            }
            if (e == long.class) {
                return values.clone();
            }
            throw new IllegalArgumentException("no interleave for " + e);
        }
    }
}
