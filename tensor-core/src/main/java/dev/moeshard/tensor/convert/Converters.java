package dev.moeshard.tensor.convert;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.FloatFormat;
import dev.moeshard.tensor.simd.VectorSupport;
import java.util.Optional;

/**
 * Picks the converter for a pair of arithmetic dtypes (F64, F32, F16, BF16, F8_E4M3, F8_E5M2).
 *
 * <p>Every converter gives, bit for bit, what {@link FloatFormat} gives: decode exactly, round once to nearest even,
 * the target format's overflow rule, NaN as the target's canonical quiet NaN with the source's sign. The
 * specialised ones only get there faster:
 * <ul>
 *   <li>BF16 and F16 to and from F32, F32 to and from F64: bit arithmetic or the JDK's rounding casts;</li>
 *   <li>FP8 to anything up to 32 bits: a 256-entry table;</li>
 *   <li>F32, BF16 and F16 to FP8: integer rounding of F32 bits (the 16-bit formats widen to F32 exactly first);</li>
 *   <li>every other pair (BF16 to F16, the 16-bit formats to F64, F64 to anything but F32, which must not round
 *       twice through F32): the generic path.</li>
 * </ul>
 * The SIMD converters ({@link #simd}) cover the contiguous runs of BF16 and F16 to and from F32 and of FP8 to F32
 * and BF16, when {@link VectorSupport} allows the Vector API. The scaled converters ({@link #scaledBest}) fuse a
 * multiplication by an F32 scale, one per block of a row, into FP8 to F32, BF16 or F16, for block dequantization.
 */
public final class Converters {
    private static final String PANAMA_CONVERTERS = "dev.moeshard.tensor.convert.PanamaConverters";

    private Converters() {}

    /** Loaded on first use, once: probing and reflection must not happen per copy. */
    private static final class Simd {
        static final Optional<SimdConverters> IMPLEMENTATION =
                VectorSupport.load(PANAMA_CONVERTERS, SimdConverters.class);
    }

    /**
     * The scalar converter from {@code from} to {@code to}: exact, works on every JVM, any strides. For
     * {@code from == to} (which the copy engine moves as bytes instead) it re-encodes each element, which
     * canonicalises NaNs.
     *
     * @throws UnsupportedOperationException if either dtype has no value conversion
     */
    public static ElementConverter scalar(DType from, DType to) {
        FloatFormat source = requireFormat(from, to, from);
        FloatFormat target = requireFormat(from, to, to);
        if (from == to) {
            return new GenericConverter(source, target);
        }
        return switch (from) {
            case BF16 -> to == DType.F32 ? Bf16Converters.toF32()
                    : to.isFp8() ? Fp8Converters.from16Bit(Bf16Converters::toF32Bits, to)
                    : new GenericConverter(source, target);
            case F16 -> to == DType.F32 ? F16Converters.toF32()
                    : to.isFp8() ? Fp8Converters.from16Bit(F16Converters::toF32Bits, to)
                    : new GenericConverter(source, target);
            case F32 -> switch (to) {
                case BF16 -> Bf16Converters.fromF32();
                case F16 -> F16Converters.fromF32();
                case F64 -> F64Converters.fromF32();
                case F8_E4M3, F8_E5M2 -> Fp8Converters.fromF32(to);
                default -> new GenericConverter(source, target);
            };
            case F64 -> to == DType.F32 ? F64Converters.toF32() : new GenericConverter(source, target);
            case F8_E4M3, F8_E5M2 -> to.byteSize() <= 4 ? Fp8Converters.fromFp8(from, to)
                    : new GenericConverter(source, target);
            default -> new GenericConverter(source, target);
        };
    }

    /**
     * The SIMD converter from {@code from} to {@code to}, when the Vector API is usable on this JVM and a vector
     * kernel exists for the pair; it falls back to {@link #scalar} for strided runs and tails. Empty otherwise.
     *
     * @throws UnsupportedOperationException if either dtype has no value conversion
     */
    public static Optional<ElementConverter> simd(DType from, DType to) {
        requireFormat(from, to, from);
        requireFormat(from, to, to);
        if (from == to) {
            return Optional.empty();
        }
        return Simd.IMPLEMENTATION.flatMap(s -> s.converter(from, to, scalar(from, to)));
    }

    /**
     * The fastest exact converter from {@code from} to {@code to} on this JVM: {@link #simd} when present, else
     * {@link #scalar}.
     *
     * @throws UnsupportedOperationException if either dtype has no value conversion
     */
    public static ElementConverter best(DType from, DType to) {
        return simd(from, to).orElseGet(() -> scalar(from, to));
    }

    /**
     * The scalar scaled converter from {@code from} to {@code to}: each element is {@code float(x) * scale} in F32,
     * rounded once to {@code to}. It exists from F8_E4M3 and F8_E5M2 to F32, BF16 and F16.
     *
     * @throws UnsupportedOperationException for any other pair
     */
    public static ScaledConverter scaledScalar(DType from, DType to) {
        return ScaledFp8Converters.of(from, to);
    }

    /**
     * The SIMD scaled converter from {@code from} to {@code to}, when the Vector API is usable on this JVM; empty
     * otherwise. It gives exactly what {@link #scaledScalar} gives.
     *
     * @throws UnsupportedOperationException for a pair with no scaled conversion
     */
    public static Optional<ScaledConverter> scaledSimd(DType from, DType to) {
        ScaledConverter scalar = scaledScalar(from, to);
        return Simd.IMPLEMENTATION.flatMap(s -> s.scaled(from, to, scalar));
    }

    /**
     * The fastest scaled converter from {@code from} to {@code to} on this JVM: {@link #scaledSimd} when present,
     * else {@link #scaledScalar}.
     *
     * @throws UnsupportedOperationException for a pair with no scaled conversion
     */
    public static ScaledConverter scaledBest(DType from, DType to) {
        return scaledSimd(from, to).orElseGet(() -> scaledScalar(from, to));
    }

    /** True when {@link #scaledScalar} and {@link #scaledBest} have a converter from {@code from} to {@code to}. */
    public static boolean hasScaled(DType from, DType to) {
        return ScaledFp8Converters.supports(from, to);
    }

    private static FloatFormat requireFormat(DType from, DType to, DType which) {
        return FloatFormat.of(which).orElseThrow(() -> new UnsupportedOperationException(
                "no value conversion from " + from + " to " + to + ": " + which + " is not arithmetic here; only "
                        + "F64, F32, F16, BF16, F8_E4M3 and F8_E5M2 convert, other dtypes move as raw bytes"));
    }
}
