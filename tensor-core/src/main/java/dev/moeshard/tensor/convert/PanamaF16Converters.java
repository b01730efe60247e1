package dev.moeshard.tensor.convert;

import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.I2S;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;
import static jdk.incubator.vector.VectorOperators.LT;
import static jdk.incubator.vector.VectorOperators.S2I;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * F16 to and from F32 with vectors. The Vector API of JDK 25 has no float16 lane conversion (its S2F converts a
 * short's integer value), so both directions are exact arithmetic on the bits, lane by lane.
 *
 * <p>Widening. Shifted left by 13, an F16's exponent and mantissa sit where an F32's do, and adding 112 to the
 * exponent field moves the bias from 15 to 127:
 * <pre>
 *   F16                       s eeeee mmmmmmmmmm
 *   ((h & 0x7fff) << 13)      0 000eeeee mmmmmmmmmm0000000000000
 *   + (112 << 23)             0 EEEEEEEE mmmmmmmmmm0000000000000     E = e + 112: the F32 of the same value
 * </pre>
 * That holds for normal numbers. A subnormal (e = 0) is m * 2^-24: the int m converts to float exactly and the
 * multiplication by 2^-24 is exact, with a normal result. (Scaling the shifted bits read as an F32 by 2^112 would
 * also be exact, but those bits are an F32 subnormal, and x86 takes a microcode assist, some hundred cycles, for
 * every vector multiplication with a subnormal lane.) Exponent 11111 is blended to infinity or the quiet NaN.
 *
 * <p>Narrowing, for an F32 magnitude {@code a}:
 * <pre>
 *   a >= 2^-14 (an F16 normal):  (a - (112 << 23) + 0xfff + bit 13) >>> 13, capped at 0x7c00 (infinity)
 *                                re-bias the exponent, round off 13 bits to nearest even; a carry out of the
 *                                mantissa moves into the exponent, and everything from 65520 up reaches the cap
 *   a <  2^-14 (an F16 subnormal or zero):  bits(a + 0.5f) - bits(0.5f)
 *                                the float add aligns a to 0.5's ulp, 2^-24, the F16 subnormal step, rounding to
 *                                nearest even in hardware; what is left above 0.5 is the subnormal code
 *   NaN: 0x7e00                  infinity needs no case: its bits round past the cap
 * </pre>
 * Every lane computes both candidates and a blend picks one, so no lane branches. (An addition with a subnormal F32
 * input ran at full speed where measured, unlike the multiplication avoided above.)
 */
final class PanamaF16Converters {
    private static final VectorSpecies<Integer> INTS = PanamaSpecies.INTS;
    private static final VectorSpecies<Short> SHORTS = PanamaSpecies.SHORTS;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** The difference of the F32 and F16 exponent biases, in the F32 exponent field. */
    static final int REBIAS_BITS = (127 - 15) << 23;
    /** The F16 subnormal step. */
    private static final float SUBNORMAL_STEP = 0x1p-24f;
    private static final int SMALLEST_NORMAL_F16 = 0x0400;
    static final int SMALLEST_NORMAL_BITS = 0x3880_0000; // 2^-14 as F32 bits
    static final float HALF = 0.5f;
    static final int HALF_BITS = 0x3f00_0000;

    private PanamaF16Converters() {}

    static final class ToF32 extends PanamaConverter {
        ToF32(ElementConverter scalar) {
            super(2, 4, INTS.length(), scalar);
        }

        @Override
        void convertVectors(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count) {
            int lanes = INTS.length();
            for (long i = 0; i < count; i += lanes) {
                ShortVector f16 = ShortVector.fromMemorySegment(SHORTS, src, srcOffset + 2 * i, LE);
                IntVector h = (IntVector) f16.convertShape(S2I, INTS, 0); // sign-extended: bit 31 is the sign
                IntVector sign = h.and(F32Bits.SIGN);
                IntVector magnitude = h.and(F16Converters.MAGNITUDE);
                IntVector normal = magnitude.lanewise(LSHL, 13).add(REBIAS_BITS);
                IntVector subnormal = ((FloatVector) magnitude.convert(I2F, 0)).mul(SUBNORMAL_STEP).reinterpretAsInts();
                IntVector f32 = normal
                        .blend(subnormal, magnitude.compare(LT, SMALLEST_NORMAL_F16))
                        .blend(F32Bits.INFINITY, magnitude.compare(GT, F16Converters.INFINITY - 1))
                        .blend(F32Bits.QUIET_NAN, magnitude.compare(GT, F16Converters.INFINITY));
                f32.or(sign).intoMemorySegment(dst, dstOffset + 4 * i, LE);
            }
        }
    }

    static final class FromF32 extends PanamaConverter {
        FromF32(ElementConverter scalar) {
            super(4, 2, INTS.length(), scalar);
        }

        @Override
        void convertVectors(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count) {
            int lanes = INTS.length();
            for (long i = 0; i < count; i += lanes) {
                IntVector f32 = IntVector.fromMemorySegment(INTS, src, srcOffset + 4 * i, LE);
                IntVector magnitude = f32.and(F32Bits.MAGNITUDE);
                IntVector lowestKept = magnitude.lanewise(LSHR, 13).and(1);
                IntVector normal = magnitude.add(0xfff - REBIAS_BITS).add(lowestKept).lanewise(LSHR, 13)
                        .min(F16Converters.INFINITY);
                IntVector subnormal = magnitude.reinterpretAsFloats().add(HALF).reinterpretAsInts().sub(HALF_BITS);
                IntVector code = normal
                        .blend(subnormal, magnitude.compare(LT, SMALLEST_NORMAL_BITS))
                        .blend(F16Converters.QUIET_NAN, magnitude.compare(GT, F32Bits.INFINITY));
                IntVector f16 = code.or(f32.lanewise(LSHR, 16).and(F16Converters.SIGN));
                ((ShortVector) f16.convertShape(I2S, SHORTS, 0)).intoMemorySegment(dst, dstOffset + 2 * i, LE);
            }
        }
    }
}
