package dev.moeshard.tensor.convert;

import java.lang.foreign.MemorySegment;

/**
 * A SIMD scaled converter: vectors over the whole-vector part of a run, the scalar scaled converter over the tail,
 * runs shorter than a vector, and heap segments the Vector API cannot address. The source is one byte per element
 * (FP8), so its offsets advance by the element count.
 *
 * <p>A whole row goes through one vector loop, which changes scale as it crosses a block edge: a vector never
 * straddles two blocks as long as the block size is a multiple of the lane count, which the 128-element blocks of
 * block quantization are for every vector width (8 or 16 FP8 lanes a step). Other block sizes go one block at a time.
 */
abstract sealed class PanamaScaledConverter implements ScaledConverter
        permits PanamaScaledFp8Converters.ToF32, PanamaScaledFp8Converters.ToBf16, PanamaScaledFp8Converters.ToF16 {
    private final int outWidth;
    private final int lanes;
    private final ScaledConverter scalar;

    PanamaScaledConverter(int outWidth, int lanes, ScaledConverter scalar) {
        this.outWidth = outWidth;
        this.lanes = lanes;
        this.scalar = scalar;
    }

    @Override
    public final void convertBlocks(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count,
                                    float[] scales, int scaleOffset, long blockElems) {
        ScaledFp8Converters.checkBlocks(count, scales, scaleOffset, blockElems);
        if (hasNaNScale(count, scales, scaleOffset, blockElems)) {
            // A NaN code times a NaN scale has no one answer in hardware (the float unit keeps one operand's NaN, and
            // the JIT may order them either way); the scalar loop settles it. Rare enough to cost nothing.
            scalar.convertBlocks(src, srcOffset, dst, dstOffset, count, scales, scaleOffset, blockElems);
            return;
        }
        if (count > blockElems && blockElems % lanes != 0) {
            // A vector would straddle two scales: each block on its own, with its own vectors and tail.
            for (long start = 0; start < count; start += blockElems, scaleOffset++) {
                convertBlocks(src, srcOffset + start, dst, dstOffset + start * outWidth,
                        Math.min(blockElems, count - start), scales, scaleOffset, blockElems);
            }
            return;
        }
        long done = 0;
        if (count >= lanes && PanamaConverter.vectorAddressable(src) && PanamaConverter.vectorAddressable(dst)) {
            done = count - count % lanes;
            convertVectors(src, srcOffset, dst, dstOffset, done, scales, scaleOffset, blockElems);
        }
        if (done < count) {
            // Block edges fall between vectors, so a tail shorter than a vector lies in one block; without vectors,
            // the tail is the whole run.
            scalar.convertBlocks(src, srcOffset + done, dst, dstOffset + done * outWidth, count - done,
                    scales, scaleOffset + (int) (done / blockElems), blockElems);
        }
    }

    private static boolean hasNaNScale(long count, float[] scales, int scaleOffset, long blockElems) {
        long blocks = Math.ceilDiv(count, blockElems);
        for (int k = 0; k < blocks; k++) {
            if (Float.isNaN(scales[scaleOffset + k])) {
                return true;
            }
        }
        return false;
    }

    /**
     * Converts {@code count} contiguous elements, a multiple of the lane count, the k-th block of {@code blockElems}
     * times {@code scales[scaleOffset + k]}. Either the run is one block ({@code count <= blockElems}) or every block
     * edge falls on a whole vector ({@code blockElems} is a multiple of the lane count).
     */
    abstract void convertVectors(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count,
                                 float[] scales, int scaleOffset, long blockElems);
}
