package dev.moeshard.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The {@code Layout} struct of copy_kernels.cu, passed by value: rank, then sizes, destination strides and source
 * strides of up to {@value #MAX_RANK} dimensions, in elements.
 * <pre>
 *   offset 0    int rank           (4 bytes, then 4 of padding: the arrays are 8-byte aligned)
 *   offset 8    long long sizes[8]
 *   offset 72   long long dst_strides[8]
 *   offset 136  long long src_strides[8]      total 200 bytes
 * </pre>
 */
final class KernelLayout {
    static final int MAX_RANK = 8;
    private static final long SIZES = 8;
    private static final long DST = SIZES + 8L * MAX_RANK;
    private static final long SRC = DST + 8L * MAX_RANK;
    static final long BYTES = SRC + 8L * MAX_RANK;

    private KernelLayout() {}

    static MemorySegment of(Arena arena, long[] sizes, long[] dstStrides, long[] srcStrides) {
        if (sizes.length > MAX_RANK) {
            throw new UnsupportedOperationException("GPU copies handle at most " + MAX_RANK
                    + " dimensions after merging, this one has " + sizes.length);
        }
        MemorySegment s = arena.allocate(BYTES, 8);
        s.set(JAVA_INT, 0, sizes.length);
        for (int d = 0; d < sizes.length; d++) {
            s.set(JAVA_LONG, SIZES + 8L * d, sizes[d]);
            s.set(JAVA_LONG, DST + 8L * d, dstStrides[d]);
            s.set(JAVA_LONG, SRC + 8L * d, srcStrides[d]);
        }
        return s;
    }
}
