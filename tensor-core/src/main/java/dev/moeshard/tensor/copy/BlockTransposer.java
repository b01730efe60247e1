package dev.moeshard.tensor.copy;

import java.lang.foreign.MemorySegment;

/**
 * Transposes one L×L block: {@code dst[d + r*dstRowStride + c*width] = src[s + r*width + c*srcColStride]} for
 * {@code r, c < L}. Offsets and strides in bytes.
 */
interface BlockTransposer {
    int lanes();

    void block(MemorySegment src, long s, long srcColStride, MemorySegment dst, long d, long dstRowStride);
}
