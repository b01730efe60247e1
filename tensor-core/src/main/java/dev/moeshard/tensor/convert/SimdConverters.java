package dev.moeshard.tensor.convert;

import dev.moeshard.tensor.DType;
import java.util.Optional;

/**
 * Where the SIMD converters come from. Its one implementation, {@code PanamaConverters}, names Vector API types and
 * is therefore loaded by name only, through {@link dev.moeshard.tensor.simd.VectorSupport#load}; this interface
 * names none, so {@link Converters} can hold it on any JVM.
 */
interface SimdConverters {
    /**
     * The SIMD converter from {@code from} to {@code to}, or empty where no vector kernel exists for the pair.
     * It converts contiguous runs with vectors and hands strided runs and tails to {@code scalar}.
     */
    Optional<ElementConverter> converter(DType from, DType to, ElementConverter scalar);

    /**
     * The SIMD scaled converter from {@code from} to {@code to}, or empty where no vector kernel exists for the
     * pair. It converts the whole-vector part of a run with vectors and hands the tail to {@code scalar}.
     */
    Optional<ScaledConverter> scaled(DType from, DType to, ScaledConverter scalar);
}
