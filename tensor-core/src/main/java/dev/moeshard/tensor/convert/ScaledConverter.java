package dev.moeshard.tensor.convert;

import java.lang.foreign.MemorySegment;

/**
 * Converts a contiguous run of elements and multiplies each by a scale on the way, as block dequantization needs:
 * each element becomes {@code float(x) * scale}, computed in F32, then rounded once to the target (nearest, ties to
 * even, with the target's {@link dev.moeshard.tensor.FloatFormat} rules for overflow and NaN). Fusing the two steps
 * spares a full F32 temporary and a second pass over it. Offsets are in bytes.
 *
 * <p>{@link #convertBlocks} is the primitive: one call converts a whole row of a block-quantized weight, whose
 * elements change scale every {@code blockElems} elements, so that the per-call work (checks, loading the format's
 * constants, starting the vector loop) is paid once per row rather than once per block. {@link #convert} is the
 * same with a single block.
 */
public interface ScaledConverter {
    /**
     * Converts {@code count} contiguous elements that lie in consecutive blocks of {@code blockElems} elements, the
     * run starting at the start of a block: the k-th block is multiplied by {@code scales[scaleOffset + k]}, and the
     * last block may be shorter than the others.
     *
     * @throws IllegalArgumentException if {@code blockElems} is not positive
     * @throws IndexOutOfBoundsException if {@code scales} holds fewer than {@code ceil(count / blockElems)} scales
     *                                   from {@code scaleOffset} on; nothing is written then
     */
    void convertBlocks(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count,
                       float[] scales, int scaleOffset, long blockElems);

    /**
     * Converts {@code count} contiguous elements, each multiplied by {@code scale}: one block. The default wraps the
     * scale in an array; a row of many blocks belongs in one {@link #convertBlocks} call instead.
     */
    default void convert(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long count,
                         float scale) {
        convertBlocks(src, srcOffset, dst, dstOffset, count, new float[] {scale}, 0, Math.max(count, 1));
    }
}
