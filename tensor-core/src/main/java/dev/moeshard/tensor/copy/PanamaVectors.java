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
    /** Eight lanes of each width: the transpose works on 8×8 blocks. */
    static final VectorSpecies<Short> SHORTS = ShortVector.SPECIES_128;
    static final VectorSpecies<Integer> INTS = IntVector.SPECIES_256;
    static final VectorSpecies<Long> LONGS = LongVector.SPECIES_512;

    /** Null where the hardware's vectors are narrower than the species: emulated lanes are slower than scalar code. */
    static final Interleave SHORT_INTERLEAVE = new Interleave(SHORTS);
    static final Interleave INT_INTERLEAVE = native256() ? new Interleave(INTS) : null;
    static final Interleave LONG_INTERLEAVE = native512() ? new Interleave(LONGS) : null;

    static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    private PanamaVectors() {}

    private static boolean native256() {
        return ByteVector.SPECIES_PREFERRED.vectorBitSize() >= 256;
    }

    private static boolean native512() {
        return ByteVector.SPECIES_PREFERRED.vectorBitSize() >= 512;
    }

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
