package dev.moeshard.tensor.copy;

import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector constants of the copy kernels, in a holder of their own so that only a class that already decided to use
 * SIMD initialises the Vector API.
 */
final class PanamaVectors {
    static final VectorSpecies<Byte> BYTES = ByteVector.SPECIES_PREFERRED;
    static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    private PanamaVectors() {}
}
