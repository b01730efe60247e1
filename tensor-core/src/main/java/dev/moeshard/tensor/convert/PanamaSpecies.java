package dev.moeshard.tensor.convert;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector species of the conversion kernels, apart so that loading {@link PanamaConverters} (which the SIMD probe
 * does) does not initialise the Vector API; only the first kernel to run does.
 *
 * <p>Every kernel works on {@link #INTS}, the widest int vector the CPU prefers, because F32 is the middle of every
 * conversion. The narrower formats use the species with the same lane count, so that one widening or narrowing
 * {@code convertShape} (part 0) maps a whole vector onto a whole vector:
 * <pre>
 *   INTS    32-bit lanes   N lanes   e.g. 128 bits (NEON), 256 bits (AVX2) or 512 bits (AVX-512)
 *   SHORTS  16-bit lanes   N lanes   half the width
 *   BYTES    8-bit lanes   N lanes   a quarter of the width; but there is no 32-bit shape, so with 128-bit ints
 *                       or 2N lanes  BYTES is 64 bits wide and widens in {@link #BYTE_PARTS} = 2 parts
 * </pre>
 */
final class PanamaSpecies {
    static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    static final VectorSpecies<Float> FLOATS = VectorSpecies.of(float.class, INTS.vectorShape());
    static final VectorSpecies<Short> SHORTS =
            VectorSpecies.of(short.class, VectorShape.forBitSize(INTS.vectorBitSize() / 2));
    static final VectorSpecies<Byte> BYTES = INTS.vectorBitSize() / 4 >= 64
            ? VectorSpecies.of(byte.class, VectorShape.forBitSize(INTS.vectorBitSize() / 4))
            : ByteVector.SPECIES_64;
    /** How many int vectors one byte vector widens into: 1, or 2 where ints are 128 bits wide. */
    static final int BYTE_PARTS = BYTES.length() / INTS.length();

    static {
        assert SHORTS.length() == INTS.length() && FLOATS.length() == INTS.length()
                : "lane counts differ: ints " + INTS + ", shorts " + SHORTS + ", floats " + FLOATS;
        assert BYTE_PARTS * INTS.length() == BYTES.length() : "bytes " + BYTES + " do not split into " + INTS;
    }

    private PanamaSpecies() {}
}
