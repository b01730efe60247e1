package dev.moeshard.tensor.convert;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.ElementAccess;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The scalar scaled converters from F8_E4M3 and F8_E5M2 to F32, BF16 and F16: the FP8 byte decodes to its exact
 * float through {@link Fp8Tables}, the float multiplication rounds the product to F32 (as the reference computes
 * it), and the narrowing of {@link Bf16Converters} or {@link F16Converters} rounds that once more to the target.
 * For F32 the product is the result; only a NaN is made canonical, as every converter here does. A run of several
 * blocks goes to the same loop once per block, with that block's scale.
 */
final class ScaledFp8Converters {
    private static final float[] E4M3 = floats(Fp8Tables.E4M3_TO_F32);
    private static final float[] E5M2 = floats(Fp8Tables.E5M2_TO_F32);

    private ScaledFp8Converters() {}

    /** True when a scaled converter exists from {@code from} to {@code to}. */
    static boolean supports(DType from, DType to) {
        return from.isFp8() && from.isConvertible() && (to == DType.F32 || to == DType.BF16 || to == DType.F16);
    }

    /** The scalar scaled converter from {@code from}, an FP8 format, to F32, BF16 or F16. */
    static ScaledConverter of(DType from, DType to) {
        if (!supports(from, to)) {
            throw new UnsupportedOperationException("no scaled conversion from " + from + " to " + to
                    + ": it exists from F8_E4M3 and F8_E5M2 to F32, BF16 and F16");
        }
        float[] table = from == DType.F8_E4M3 ? E4M3 : E5M2;
        return new Blocks(to.byteSize(), switch (to) {
            case F32 -> (src, srcOffset, dst, dstOffset, count, scale) -> {
                for (long i = 0; i < count; i++) {
                    int bits = product(decode(table, src, srcOffset + i), scale);
                    dst.set(ElementAccess.INT, dstOffset + 4 * i, bits);
                }
            };
            case BF16 -> (src, srcOffset, dst, dstOffset, count, scale) -> {
                for (long i = 0; i < count; i++) {
                    int bits = product(decode(table, src, srcOffset + i), scale);
                    dst.set(ElementAccess.SHORT, dstOffset + 2 * i, (short) Bf16Converters.fromF32Bits(bits));
                }
            };
            default -> (src, srcOffset, dst, dstOffset, count, scale) -> {
                for (long i = 0; i < count; i++) {
                    int bits = product(decode(table, src, srcOffset + i), scale);
                    dst.set(ElementAccess.SHORT, dstOffset + 2 * i, (short) F16Converters.fromF32Bits(bits));
                }
            };
        });
    }

    /**
     * The F32 bits of {@code x * scale}, a NaN made the canonical quiet NaN of its sign. Where both are NaN the sign
     * is {@code x}'s: the float unit keeps one operand's NaN, and which one depends on how the compiled code ordered
     * them, so without this the same weight could come out with either sign from one call site to the next.
     */
    private static int product(float x, float scale) {
        int bits = Float.floatToRawIntBits(x * scale);
        if (!F32Bits.isNaN(bits)) {
            return bits;
        }
        return F32Bits.quietNaN(Float.isNaN(x) ? Float.floatToRawIntBits(x) : bits);
    }

    /**
     * Checks the arguments of {@link ScaledConverter#convertBlocks} before anything is written: a block size of at
     * least one element and a scale for every block of the run.
     */
    static void checkBlocks(long count, float[] scales, int scaleOffset, long blockElems) {
        if (blockElems < 1) {
            throw new IllegalArgumentException("blocks of " + blockElems + " elements: a block holds at least one");
        }
        long blocks = Math.ceilDiv(count, blockElems);
        if (scaleOffset < 0 || blocks > scales.length - scaleOffset) {
            throw new IndexOutOfBoundsException(count + " elements in blocks of " + blockElems + " need " + blocks
                    + " scales from index " + scaleOffset + ", the array holds " + scales.length);
        }
    }

    /** One block's loop: {@code count} elements, each times {@code scale}. */
    @FunctionalInterface
    private interface BlockLoop {
        void run(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count, float scale);
    }

    /**
     * A scalar scaled converter: walks the blocks of a run and hands each to the target's loop. A scalar element
     * costs far more than the call per block, so the loop is not written out per target as the vector kernels are.
     */
    private record Blocks(int outWidth, BlockLoop loop) implements ScaledConverter {
        @Override
        public void convertBlocks(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count,
                                  float[] scales, int scaleOffset, long blockElems) {
            checkBlocks(count, scales, scaleOffset, blockElems);
            int k = scaleOffset;
            for (long start = 0; start < count; start += blockElems, k++) {
                loop.run(src, srcOffset + start, dst, dstOffset + start * outWidth, Math.min(blockElems, count - start),
                        scales[k]);
            }
        }

        /** One block straight to the loop, with no array for its one scale. */
        @Override
        public void convert(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count,
                            float scale) {
            loop.run(src, srcOffset, dst, dstOffset, count, scale);
        }
    }

    private static float decode(float[] table, MemorySegment src, long offset) {
        return table[src.get(ValueLayout.JAVA_BYTE, offset) & 0xff];
    }

    private static float[] floats(int[] f32Bits) {
        float[] values = new float[f32Bits.length];
        for (int i = 0; i < values.length; i++) {
            values[i] = Float.intBitsToFloat(f32Bits[i]);
        }
        return values;
    }
}
