package dev.moeshard.tensor.convert;

import static jdk.incubator.vector.VectorOperators.B2I;
import static jdk.incubator.vector.VectorOperators.EQ;
import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.I2S;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;
import static jdk.incubator.vector.VectorOperators.LT;

import dev.moeshard.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * F8_E4M3 and F8_E5M2 to F32 and BF16 with vectors. A 256-entry table does not fit a vector shuffle (the widest
 * holds 64 byte lanes), and gathers are slow, so the lanes decode arithmetically, as {@link PanamaF16Converters}
 * widens F16: a normal number's exponent and mantissa are shifted to where an F32's sit and the exponent re-biased
 * with an integer add; a subnormal, m times the format's smallest step, converts m to float and multiplies by the
 * step, both exact (and with no F32 subnormal in sight, which would cost x86 a microcode assist).
 *
 * <pre>
 *   F8_E4M3   s eeee mmm     normal:    ((b & 0x7f) << 20) + ((127 - 7) << 23)     subnormal: m * 2^-9
 *   F8_E5M2   s eeeee mm     normal:    ((b & 0x7f) << 21) + ((127 - 15) << 23)    subnormal: m * 2^-16
 *   sign: B2I sign-extends the byte, so bit 31 of the int lane already is the FP8 sign
 *   special codes, blended in: E4M3 s.1111.111 -> quiet NaN; E5M2 s.11111.00 -> infinity, s.11111.mm -> quiet NaN
 * </pre>
 * Every FP8 value has at most 3 significant bits and an exponent well inside BF16's, so the BF16 result is the top
 * half of the F32 one, exactly (the canonical F32 quiet NaN's top half is BF16's).
 */
final class PanamaFp8Converters {
    private static final VectorSpecies<Integer> INTS = PanamaSpecies.INTS;
    private static final VectorSpecies<Short> SHORTS = PanamaSpecies.SHORTS;
    private static final VectorSpecies<Byte> BYTES = PanamaSpecies.BYTES;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private PanamaFp8Converters() {}

    /** A code no 7-bit magnitude equals: F8_E4M3 has no infinity. */
    private static final int NO_CODE = -1;

    /** What decoding needs to know of one FP8 format, for the layout diagram above (the scaled kernels share it). */
    enum Layout {
        //   shift into place, exponent bias, subnormal step, smallest normal code, infinity code, NaN above code
        E4M3(20, 7, 0x1p-9f, 0x08, NO_CODE, 0x7e),
        E5M2(21, 15, 0x1p-16f, 0x04, 0x7c, 0x7c);

        /**
         * The codes above this one are infinity or NaN; the scaled kernels build them in one step as
         * {@code (code << shift) | 0x7f80_0000}, an all-ones F32 exponent with the FP8 mantissa below it: E5M2's
         * s.11111.00 becomes infinity and s.11111.mm NaN, E4M3's s.1111.111 NaN. (The NaN is not canonical; the
         * rounding that follows makes it so.)
         */
        int specialAbove() {
            return infinity == NO_CODE ? nanAbove : infinity - 1;
        }

        final int shift;
        final int rebiasBits;
        final float subnormalStep;
        final int smallestNormal;
        final int infinity;
        final int nanAbove;

        static Layout of(DType fp8) {
            assert fp8 == DType.F8_E4M3 || fp8 == DType.F8_E5M2 : fp8;
            return fp8 == DType.F8_E4M3 ? E4M3 : E5M2;
        }

        Layout(int shift, int bias, float subnormalStep, int smallestNormal, int infinity, int nanAbove) {
            this.shift = shift;
            this.rebiasBits = (127 - bias) << 23;
            this.subnormalStep = subnormalStep;
            this.smallestNormal = smallestNormal;
            this.infinity = infinity;
            this.nanAbove = nanAbove;
        }
    }

    /**
     * FP8 to F32 or BF16. The loop is written out flat, with the format's constants in locals: C2 inlines the
     * Vector API's conversions only so deep, and a helper method per step was enough to leave them boxed.
     */
    static final class Widen extends PanamaConverter {
        private final Layout layout;
        private final boolean toBf16;

        Widen(DType from, DType to, ElementConverter scalar) {
            super(1, to.byteSize(), BYTES.length(), scalar);
            assert from == DType.F8_E4M3 || from == DType.F8_E5M2 : from;
            assert to == DType.F32 || to == DType.BF16 : to;
            this.layout = Layout.of(from);
            this.toBf16 = to == DType.BF16;
        }

        @Override
        void convertVectors(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count) {
            int byteLanes = BYTES.length();
            int intLanes = INTS.length();
            int shift = layout.shift;
            int rebiasBits = layout.rebiasBits;
            float subnormalStep = layout.subnormalStep;
            int smallestNormal = layout.smallestNormal;
            int infinity = layout.infinity;
            int nanAbove = layout.nanAbove;
            boolean toBf16 = this.toBf16;
            for (long i = 0; i < count; i += byteLanes) {
                ByteVector fp8 = ByteVector.fromMemorySegment(BYTES, src, srcOffset + i, LE);
                for (int part = 0; part < PanamaSpecies.BYTE_PARTS; part++) { // a constant 1 or 2: unrolled
                    long at = i + (long) part * intLanes;
                    IntVector b = (IntVector) fp8.convertShape(B2I, INTS, part); // sign-extended: bit 31 = sign
                    IntVector code = b.and(0x7f);
                    IntVector subnormal = ((FloatVector) code.convert(I2F, 0)).mul(subnormalStep)
                            .reinterpretAsInts();
                    IntVector f32 = code.lanewise(LSHL, shift).add(rebiasBits)
                            .blend(subnormal, code.compare(LT, smallestNormal))
                            .blend(F32Bits.INFINITY, code.compare(EQ, infinity))
                            .blend(F32Bits.QUIET_NAN, code.compare(GT, nanAbove))
                            .or(b.and(F32Bits.SIGN));
                    if (toBf16) {
                        ((ShortVector) f32.lanewise(LSHR, 16).convertShape(I2S, SHORTS, 0))
                                .intoMemorySegment(dst, dstOffset + 2 * at, LE);
                    } else {
                        f32.intoMemorySegment(dst, dstOffset + 4 * at, LE);
                    }
                }
            }
        }
    }
}
