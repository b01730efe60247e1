package dev.moeshard.tensor.convert;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.ElementAccess;
import java.lang.foreign.ValueLayout;
import java.util.function.IntUnaryOperator;

/**
 * Converters to and from F8_E4M3 and F8_E5M2: from FP8 by table lookup ({@link Fp8Tables}), to FP8 by rounding
 * F32 bits ({@link Fp8Rounding}). BF16 and F16 sources widen to F32 first; that is exact, so the value is still
 * rounded only once.
 */
final class Fp8Converters {
    private Fp8Converters() {}

    /** From an FP8 format to any format of at most 32 bits, one table load per element. */
    static ElementConverter fromFp8(DType from, DType to) {
        int[] table = Fp8Tables.table(from, to);
        return switch (to.byteSize()) {
            case 1 -> (src, srcOffset, srcStride, dst, dstOffset, dstStride, count) -> {
                for (long i = 0; i < count; i++) {
                    int code = src.get(ValueLayout.JAVA_BYTE, srcOffset + i * srcStride) & 0xff;
                    dst.set(ValueLayout.JAVA_BYTE, dstOffset + i * dstStride, (byte) table[code]);
                }
            };
            case 2 -> (src, srcOffset, srcStride, dst, dstOffset, dstStride, count) -> {
                for (long i = 0; i < count; i++) {
                    int code = src.get(ValueLayout.JAVA_BYTE, srcOffset + i * srcStride) & 0xff;
                    dst.set(ElementAccess.SHORT, dstOffset + i * dstStride, (short) table[code]);
                }
            };
            case 4 -> (src, srcOffset, srcStride, dst, dstOffset, dstStride, count) -> {
                for (long i = 0; i < count; i++) {
                    int code = src.get(ValueLayout.JAVA_BYTE, srcOffset + i * srcStride) & 0xff;
                    dst.set(ElementAccess.INT, dstOffset + i * dstStride, table[code]);
                }
            };
            default -> throw new IllegalArgumentException("no table converter to " + to);
        };
    }

    /** From F32 to {@code to}, an FP8 format. */
    static ElementConverter fromF32(DType to) {
        if (to == DType.F8_E4M3) {
            return (src, srcOffset, srcStride, dst, dstOffset, dstStride, count) -> {
                for (long i = 0; i < count; i++) {
                    int f = src.get(ElementAccess.INT, srcOffset + i * srcStride);
                    dst.set(ValueLayout.JAVA_BYTE, dstOffset + i * dstStride, (byte) Fp8Rounding.e4m3FromF32Bits(f));
                }
            };
        }
        requireFp8(to);
        return (src, srcOffset, srcStride, dst, dstOffset, dstStride, count) -> {
            for (long i = 0; i < count; i++) {
                int f = src.get(ElementAccess.INT, srcOffset + i * srcStride);
                dst.set(ValueLayout.JAVA_BYTE, dstOffset + i * dstStride, (byte) Fp8Rounding.e5m2FromF32Bits(f));
            }
        };
    }

    /**
     * From a 16-bit format to {@code to}, an FP8 format, through F32: {@code widen} maps the 16-bit pattern to the
     * F32 bits of the same value.
     */
    static ElementConverter from16Bit(IntUnaryOperator widen, DType to) {
        IntUnaryOperator narrow = to == DType.F8_E4M3 ? Fp8Rounding::e4m3FromF32Bits : requireFp8(to);
        return (src, srcOffset, srcStride, dst, dstOffset, dstStride, count) -> {
            for (long i = 0; i < count; i++) {
                int h = src.get(ElementAccess.SHORT, srcOffset + i * srcStride);
                dst.set(ValueLayout.JAVA_BYTE, dstOffset + i * dstStride,
                        (byte) narrow.applyAsInt(widen.applyAsInt(h)));
            }
        };
    }

    private static IntUnaryOperator requireFp8(DType to) {
        if (to != DType.F8_E5M2) {
            throw new IllegalArgumentException(to + " is not an FP8 format with a rounding converter");
        }
        return Fp8Rounding::e5m2FromF32Bits;
    }
}
