package dev.moeshard.tensor.convert;

import static jdk.incubator.vector.VectorOperators.B2I;
import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.I2S;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;
import static jdk.incubator.vector.VectorOperators.LT;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.convert.PanamaFp8Converters.Layout;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * F8_E4M3 and F8_E5M2 times a scale to F32, BF16 and F16, with vectors, in one pass and all in registers:
 *
 * <pre>
 *   8 byte lanes --B2I--> int lanes --decode (PanamaFp8Converters' arithmetic)--> F32 bits of w, exact
 *                (infinity and NaN codes in one blend, see Layout.specialAbove: the NaN need not be canonical yet)
 *                --mul(scale)--> F32 product, rounded once by the float unit, as the scalar w * scale is
 *                --round to the target (PanamaBf16Converters / PanamaF16Converters' narrowing)--> stored
 * </pre>
 * One class per target, each loop written out flat with the format's constants in locals: the targets store
 * different vector types (int lanes for F32, short lanes for BF16 and F16), and C2 keeps the Vector API unboxed only
 * where each call site sees one vector type and the whole chain inlines. Both FP8 formats use the same vector types
 * and differ only in constants, so they share a class.
 *
 * <p>A loop runs over a whole row of blocks and reloads its scale where a block ends, so that the entry cost of a
 * call (checks, constants, loop set-up) is paid once per row, not every 8 to 16 vectors: on a 2048-column BF16 row
 * that took a fifth off the time of one call per 128-element block, and checking for an edge on every vector took
 * about an eighth less than a nested loop per block (JMH, Fp8DequantBenchmark, AVX-512, one run each).
 */
final class PanamaScaledFp8Converters {
    private static final VectorSpecies<Integer> INTS = PanamaSpecies.INTS;
    private static final VectorSpecies<Short> SHORTS = PanamaSpecies.SHORTS;
    private static final VectorSpecies<Byte> BYTES = PanamaSpecies.BYTES;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private PanamaScaledFp8Converters() {}

    /** FP8 times scale to F32: the product itself, with a NaN made the canonical quiet NaN of its sign. */
    static final class ToF32 extends PanamaScaledConverter {
        private final Layout layout;

        ToF32(DType from, ScaledConverter scalar) {
            super(4, BYTES.length(), scalar);
            this.layout = Layout.of(from);
        }

        @Override
        void convertVectors(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count,
                            float[] scales, int scaleOffset, long blockElems) {
            int byteLanes = BYTES.length();
            int intLanes = INTS.length();
            int shift = layout.shift;
            int rebiasBits = layout.rebiasBits;
            float subnormalStep = layout.subnormalStep;
            int smallestNormal = layout.smallestNormal;
            int specialAbove = layout.specialAbove();
            int block = scaleOffset;
            float scale = scales[block];
            long blockEnd = blockElems;
            for (long i = 0; i < count; i += byteLanes) {
                if (i == blockEnd) { // edges fall between vectors (see PanamaScaledConverter)
                    scale = scales[++block];
                    blockEnd += blockElems;
                }
                ByteVector fp8 = ByteVector.fromMemorySegment(BYTES, src, srcOffset + i, LE);
                for (int part = 0; part < PanamaSpecies.BYTE_PARTS; part++) { // a constant 1 or 2: unrolled
                    long at = i + (long) part * intLanes;
                    IntVector b = (IntVector) fp8.convertShape(B2I, INTS, part); // sign-extended: bit 31 = sign
                    IntVector code = b.and(0x7f);
                    IntVector subnormal = ((FloatVector) code.convert(I2F, 0)).mul(subnormalStep)
                            .reinterpretAsInts();
                    IntVector shifted = code.lanewise(LSHL, shift);
                    IntVector w = shifted.add(rebiasBits)
                            .blend(subnormal, code.compare(LT, smallestNormal))
                            .blend(shifted.or(F32Bits.INFINITY), code.compare(GT, specialAbove))
                            .or(b.and(F32Bits.SIGN));
                    IntVector p = w.reinterpretAsFloats().mul(scale).reinterpretAsInts();
                    VectorMask<Integer> nan = p.and(F32Bits.MAGNITUDE).compare(GT, F32Bits.INFINITY);
                    p.blend(p.and(F32Bits.SIGN).or(F32Bits.QUIET_NAN), nan)
                            .intoMemorySegment(dst, dstOffset + 4 * at, LE);
                }
            }
        }
    }

    /** FP8 times scale to BF16: the product's bits rounded as {@link PanamaBf16Converters.FromF32} does. */
    static final class ToBf16 extends PanamaScaledConverter {
        private final Layout layout;

        ToBf16(DType from, ScaledConverter scalar) {
            super(2, BYTES.length(), scalar);
            this.layout = Layout.of(from);
        }

        @Override
        void convertVectors(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count,
                            float[] scales, int scaleOffset, long blockElems) {
            int byteLanes = BYTES.length();
            int intLanes = INTS.length();
            int shift = layout.shift;
            int rebiasBits = layout.rebiasBits;
            float subnormalStep = layout.subnormalStep;
            int smallestNormal = layout.smallestNormal;
            int specialAbove = layout.specialAbove();
            int block = scaleOffset;
            float scale = scales[block];
            long blockEnd = blockElems;
            for (long i = 0; i < count; i += byteLanes) {
                if (i == blockEnd) { // edges fall between vectors (see PanamaScaledConverter)
                    scale = scales[++block];
                    blockEnd += blockElems;
                }
                ByteVector fp8 = ByteVector.fromMemorySegment(BYTES, src, srcOffset + i, LE);
                for (int part = 0; part < PanamaSpecies.BYTE_PARTS; part++) {
                    long at = i + (long) part * intLanes;
                    IntVector b = (IntVector) fp8.convertShape(B2I, INTS, part);
                    IntVector code = b.and(0x7f);
                    IntVector subnormal = ((FloatVector) code.convert(I2F, 0)).mul(subnormalStep)
                            .reinterpretAsInts();
                    IntVector shifted = code.lanewise(LSHL, shift);
                    IntVector w = shifted.add(rebiasBits)
                            .blend(subnormal, code.compare(LT, smallestNormal))
                            .blend(shifted.or(F32Bits.INFINITY), code.compare(GT, specialAbove))
                            .or(b.and(F32Bits.SIGN));
                    IntVector p = w.reinterpretAsFloats().mul(scale).reinterpretAsInts();
                    IntVector lowestKept = p.lanewise(LSHR, 16).and(1);
                    IntVector rounded = p.add(0x7fff).add(lowestKept).lanewise(LSHR, 16);
                    VectorMask<Integer> nan = p.and(F32Bits.MAGNITUDE).compare(GT, F32Bits.INFINITY);
                    IntVector quietNaN = p.and(F32Bits.SIGN).or(F32Bits.QUIET_NAN).lanewise(LSHR, 16);
                    ((ShortVector) rounded.blend(quietNaN, nan).convertShape(I2S, SHORTS, 0))
                            .intoMemorySegment(dst, dstOffset + 2 * at, LE);
                }
            }
        }
    }

    /** FP8 times scale to F16: the product's bits rounded as {@link PanamaF16Converters.FromF32} does. */
    static final class ToF16 extends PanamaScaledConverter {
        private final Layout layout;

        ToF16(DType from, ScaledConverter scalar) {
            super(2, BYTES.length(), scalar);
            this.layout = Layout.of(from);
        }

        @Override
        void convertVectors(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count,
                            float[] scales, int scaleOffset, long blockElems) {
            int byteLanes = BYTES.length();
            int intLanes = INTS.length();
            int shift = layout.shift;
            int rebiasBits = layout.rebiasBits;
            float subnormalStep = layout.subnormalStep;
            int smallestNormal = layout.smallestNormal;
            int specialAbove = layout.specialAbove();
            int block = scaleOffset;
            float scale = scales[block];
            long blockEnd = blockElems;
            for (long i = 0; i < count; i += byteLanes) {
                if (i == blockEnd) { // edges fall between vectors (see PanamaScaledConverter)
                    scale = scales[++block];
                    blockEnd += blockElems;
                }
                ByteVector fp8 = ByteVector.fromMemorySegment(BYTES, src, srcOffset + i, LE);
                for (int part = 0; part < PanamaSpecies.BYTE_PARTS; part++) {
                    long at = i + (long) part * intLanes;
                    IntVector b = (IntVector) fp8.convertShape(B2I, INTS, part);
                    IntVector code = b.and(0x7f);
                    IntVector subnormal = ((FloatVector) code.convert(I2F, 0)).mul(subnormalStep)
                            .reinterpretAsInts();
                    IntVector shifted = code.lanewise(LSHL, shift);
                    IntVector w = shifted.add(rebiasBits)
                            .blend(subnormal, code.compare(LT, smallestNormal))
                            .blend(shifted.or(F32Bits.INFINITY), code.compare(GT, specialAbove))
                            .or(b.and(F32Bits.SIGN));
                    IntVector p = w.reinterpretAsFloats().mul(scale).reinterpretAsInts();
                    IntVector magnitude = p.and(F32Bits.MAGNITUDE);
                    IntVector lowestKept = magnitude.lanewise(LSHR, 13).and(1);
                    IntVector normal = magnitude.add(0xfff - PanamaF16Converters.REBIAS_BITS).add(lowestKept)
                            .lanewise(LSHR, 13).min(F16Converters.INFINITY);
                    IntVector subnormalF16 = magnitude.reinterpretAsFloats().add(PanamaF16Converters.HALF)
                            .reinterpretAsInts().sub(PanamaF16Converters.HALF_BITS);
                    IntVector f16 = normal
                            .blend(subnormalF16, magnitude.compare(LT, PanamaF16Converters.SMALLEST_NORMAL_BITS))
                            .blend(F16Converters.QUIET_NAN, magnitude.compare(GT, F32Bits.INFINITY))
                            .or(p.lanewise(LSHR, 16).and(F16Converters.SIGN));
                    ((ShortVector) f16.convertShape(I2S, SHORTS, 0)).intoMemorySegment(dst, dstOffset + 2 * at, LE);
                }
            }
        }
    }
}
