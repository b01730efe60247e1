package dev.moeshard.tensor.convert;

import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.I2S;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;
import static jdk.incubator.vector.VectorOperators.S2I;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * BF16 to and from F32 with vectors: the arithmetic of {@link Bf16Converters}, lane by lane.
 *
 * <pre>
 *   widen:   short lane  s eeeeeeee mmmmmmm                 sign-extended to an int lane by S2I, then << 16:
 *            int lane    s eeeeeeee mmmmmmm 0000000000000000  (the extension bits fall off the top)
 *   narrow:  int lane    + 0x7fff + bit 16, >>> 16, then I2S keeps the low 16 bits of each lane
 * </pre>
 * NaN lanes are replaced by the canonical quiet NaN of their sign with a blend, so no lane needs a branch.
 */
final class PanamaBf16Converters {
    private static final VectorSpecies<Integer> INTS = PanamaSpecies.INTS;
    private static final VectorSpecies<Short> SHORTS = PanamaSpecies.SHORTS;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private PanamaBf16Converters() {}

    static final class ToF32 extends PanamaConverter {
        ToF32(ElementConverter scalar) {
            super(2, 4, INTS.length(), scalar);
        }

        @Override
        void convertVectors(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count) {
            int lanes = INTS.length();
            for (long i = 0; i < count; i += lanes) {
                ShortVector bf16 = ShortVector.fromMemorySegment(SHORTS, src, srcOffset + 2 * i, LE);
                IntVector f32 = ((IntVector) bf16.convertShape(S2I, INTS, 0)).lanewise(LSHL, 16);
                VectorMask<Integer> nan = f32.and(F32Bits.MAGNITUDE).compare(GT, F32Bits.INFINITY);
                f32 = f32.blend(f32.and(F32Bits.SIGN).or(F32Bits.QUIET_NAN), nan);
                f32.intoMemorySegment(dst, dstOffset + 4 * i, LE);
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
                IntVector lowestKept = f32.lanewise(LSHR, 16).and(1);
                IntVector rounded = f32.add(0x7fff).add(lowestKept).lanewise(LSHR, 16);
                VectorMask<Integer> nan = f32.and(F32Bits.MAGNITUDE).compare(GT, F32Bits.INFINITY);
                IntVector quietNaN = f32.and(F32Bits.SIGN).or(F32Bits.QUIET_NAN).lanewise(LSHR, 16);
                IntVector bf16 = rounded.blend(quietNaN, nan);
                ((ShortVector) bf16.convertShape(I2S, SHORTS, 0)).intoMemorySegment(dst, dstOffset + 2 * i, LE);
            }
        }
    }
}
