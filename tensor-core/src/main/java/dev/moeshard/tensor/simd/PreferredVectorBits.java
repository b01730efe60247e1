package dev.moeshard.tensor.simd;

import java.util.function.IntSupplier;
import jdk.incubator.vector.VectorShape;

/**
 * Reports the preferred vector width. Loaded by name only after the module check, so that probing the width never
 * initialises the Vector API on a JVM that lacks it.
 */
final class PreferredVectorBits implements IntSupplier {
    @Override
    public int getAsInt() {
        return VectorShape.preferredShape().vectorBitSize();
    }
}
