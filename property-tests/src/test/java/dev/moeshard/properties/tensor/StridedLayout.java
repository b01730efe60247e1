package dev.moeshard.properties.tensor;

import dev.moeshard.properties.harness.Gen;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A tensor of a given shape laid out as a view of a larger, randomly filled storage: dimensions permuted, stepped
 * (every k-th element), started past some padding, and for sources optionally broadcast (stride 0). The element
 * positions are computed here from this record's own offset and strides, not asked of the tensor.
 */
record StridedLayout(MemorySegment storage, DType dtype, long offset, long[] sizes, long[] strides) {

    static StridedLayout random(Gen gen, DType dtype, long[] sizes, boolean mayBroadcast) {
        int rank = sizes.length;
        int[] order = new int[rank];
        for (int i = 0; i < rank; i++) {
            order[i] = i;
        }
        for (int i = rank - 1; i > 0; i--) {
            int j = gen.between(0, i);
            int tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        long[] step = new long[rank];
        long[] start = new long[rank];
        long[] extent = new long[rank];
        for (int d = 0; d < rank; d++) {
            step[d] = gen.chance(0.6) ? 1 : gen.between(2L, 3L);
            start[d] = gen.chance(0.6) ? 0 : gen.between(1L, 2L);
            extent[d] = start[d] + Math.max(1, (sizes[d] - 1) * step[d] + 1) + (gen.chance(0.5) ? 0 : gen.between(1L, 2L));
        }
        // Row-major strides of the storage, whose dimension i is dimension order[i] of the view.
        long[] baseStride = new long[rank];
        long acc = 1;
        for (int i = rank - 1; i >= 0; i--) {
            baseStride[order[i]] = acc;
            acc *= extent[order[i]];
        }
        long lead = gen.chance(0.5) ? 0 : gen.between(1L, 9L);
        long offset = lead;
        long[] strides = new long[rank];
        for (int d = 0; d < rank; d++) {
            boolean broadcast = mayBroadcast && sizes[d] > 1 && gen.chance(0.15);
            strides[d] = broadcast ? 0 : baseStride[d] * step[d];
            offset += start[d] * baseStride[d];
        }
        long bytes = (lead + acc) * dtype.byteSize() + gen.between(0L, 7L);
        MemorySegment storage = Arena.ofAuto().allocate(bytes, 8);
        byte[] fill = new byte[(int) bytes];
        gen.nextBytes(fill);
        MemorySegment.copy(MemorySegment.ofArray(fill), 0, storage, 0, bytes);
        return new StridedLayout(storage, dtype, offset, sizes.clone(), strides);
    }

    Tensor tensor() {
        return Tensor.strided(storage, dtype, offset, sizes, strides);
    }

    /** Byte position of the element at row-major position {@code linear}. */
    long byteOf(long linear) {
        long[] idx = Shape.unravel(linear, sizes);
        long element = offset;
        for (int d = 0; d < idx.length; d++) {
            element += idx[d] * strides[d];
        }
        return element * dtype.byteSize();
    }

    long numel() {
        return Shape.numel(sizes);
    }

    byte[] bytes() {
        return storage.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }
}
