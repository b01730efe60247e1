package dev.moeshard.tensor.convert;

import dev.moeshard.tensor.DType;
import java.util.Optional;

/**
 * The SIMD converters, loaded by name through {@link dev.moeshard.tensor.simd.VectorSupport#load} once the Vector API
 * is known to be usable. Creating this class touches no vector type; the kernels it hands out initialise
 * {@link PanamaSpecies} when they are first made.
 *
 * <p>Kernels exist for the conversions that dominate checkpoint work and vectorise cleanly: BF16 and F16 to and from
 * F32, FP8 to F32 and BF16. Narrowing to FP8 has no kernel yet (its saturation and FP8-subnormal cases would be
 * further blends) and stays scalar, as does every pair with F64 or between the 16-bit formats. The scaled kernels
 * (block dequantization) take F8_E4M3 and F8_E5M2 to F32, BF16 and F16.
 */
final class PanamaConverters implements SimdConverters {
    PanamaConverters() {}

    @Override
    public Optional<ElementConverter> converter(DType from, DType to, ElementConverter scalar) {
        PanamaConverter converter = switch (from) {
            case BF16 -> to == DType.F32 ? new PanamaBf16Converters.ToF32(scalar) : null;
            case F16 -> to == DType.F32 ? new PanamaF16Converters.ToF32(scalar) : null;
            case F32 -> switch (to) {
                case BF16 -> new PanamaBf16Converters.FromF32(scalar);
                case F16 -> new PanamaF16Converters.FromF32(scalar);
                default -> null;
            };
            case F8_E4M3, F8_E5M2 -> to == DType.F32 || to == DType.BF16
                    ? new PanamaFp8Converters.Widen(from, to, scalar) : null;
            default -> null;
        };
        return Optional.ofNullable(converter);
    }

    @Override
    public Optional<ScaledConverter> scaled(DType from, DType to, ScaledConverter scalar) {
        if (!ScaledFp8Converters.supports(from, to)) {
            return Optional.empty();
        }
        return Optional.of(switch (to) {
            case F32 -> new PanamaScaledFp8Converters.ToF32(from, scalar);
            case BF16 -> new PanamaScaledFp8Converters.ToBf16(from, scalar);
            default -> new PanamaScaledFp8Converters.ToF16(from, scalar);
        });
    }
}
