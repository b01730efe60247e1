package dev.moeshard.tensor.copy;

import java.lang.foreign.MemorySegment;

/**
 * The inner loops of the copy engine, for elements of 1, 2, 4 or 8 bytes that move unchanged. Offsets and strides
 * are in bytes. {@link ScalarCopyKernels} works on every JVM; a SIMD implementation is used when
 * {@link dev.moeshard.tensor.simd.VectorSupport} allows. Both give identical bytes.
 */
public interface CopyKernels {
    /** A short name for logs and benchmark labels: "scalar", "simd-512". */
    String name();

    /** Moves {@code bytes} contiguous bytes. */
    void run(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long bytes);

    /**
     * Transposes a tile: for {@code r < rows, c < cols},
     * {@code dst[dstOffset + r*dstRowStride + c*width] = src[srcOffset + r*width + c*srcColStride]}.
     * The destination's rows and the source's columns are contiguous.
     */
    void transpose(MemorySegment src, long srcOffset, long srcColStride,
                   MemorySegment dst, long dstOffset, long dstRowStride,
                   long rows, long cols, int width);

    /** {@code dst[dstOffset + i*dstStride] = src[srcOffset + i*srcStride]} for {@code i < count}. */
    void gather(MemorySegment src, long srcOffset, long srcStride,
                MemorySegment dst, long dstOffset, long dstStride,
                long count, int width);
}
