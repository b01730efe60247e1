package dev.moeshard.properties.tensor;

import java.util.Arrays;
import java.util.function.UnaryOperator;

/**
 * The naive reference for views: a shape, the storage position (element index) of each of its elements in row-major
 * order, and the value stored at each position. It knows no strides or offsets; every view is materialised by
 * computing, for each index of the result, which index of the source it reads. A wrong stride formula in the tensor
 * under test therefore cannot be mirrored here.
 */
record PositionModel(long[] sizes, long[] positions, long[] valueAt) {

    /** A contiguous tensor at offset 0 whose element i lies at position i and holds the value i. */
    static PositionModel contiguous(long[] sizes) {
        long[] p = iota(Shape.numel(sizes));
        return new PositionModel(sizes.clone(), p, p.clone());
    }

    /** The value of row-major element {@code i}. */
    long value(int i) {
        return valueAt[Math.toIntExact(positions[i])];
    }

    /** What a copy into fresh contiguous storage holds: the same values, at positions 0, 1, 2, ... */
    PositionModel copied() {
        long[] values = new long[positions.length];
        for (int i = 0; i < values.length; i++) {
            values[i] = value(i);
        }
        return new PositionModel(sizes, iota(values.length), values);
    }

    private static long[] iota(long n) {
        long[] p = new long[Math.toIntExact(n)];
        for (int i = 0; i < p.length; i++) {
            p[i] = i;
        }
        return p;
    }

    int dim() { return sizes.length; }

    long at(long[] index) {
        long lin = 0;
        for (int d = 0; d < sizes.length; d++) {
            lin = lin * sizes[d] + index[d];
        }
        return positions[Math.toIntExact(lin)];
    }

    PositionModel select(int d, long i) {
        return build(Shape.remove(sizes, d), idx -> Shape.insert(idx, d, i));
    }

    PositionModel slice(int d, long start, long end, long step) {
        long[] out = sizes.clone();
        long count = 0;
        for (long i = start; i < end; i += step) {
            count++;
        }
        out[d] = count;
        return build(out, idx -> {
            long[] src = idx.clone();
            src[d] = start + idx[d] * step;
            return src;
        });
    }

    /** Dimension i of the result is dimension order[i] of this. */
    PositionModel permute(int[] order) {
        long[] out = new long[order.length];
        for (int i = 0; i < order.length; i++) {
            out[i] = sizes[order[i]];
        }
        return build(out, idx -> {
            long[] src = new long[idx.length];
            for (int i = 0; i < idx.length; i++) {
                src[order[i]] = idx[i];
            }
            return src;
        });
    }

    /** The same row-major sequence under another shape. */
    PositionModel reshape(long[] newSizes) {
        return new PositionModel(newSizes.clone(), positions, valueAt);
    }

    PositionModel unsqueeze(int d) {
        return build(Shape.insert(sizes, d, 1), idx -> Shape.remove(idx, d));
    }

    PositionModel squeezeAll() {
        long[] out = Arrays.stream(sizes).filter(s -> s != 1).toArray();
        return build(out, idx -> {
            long[] src = new long[sizes.length];
            for (int d = 0, k = 0; d < sizes.length; d++) {
                src[d] = sizes[d] == 1 ? 0 : idx[k++];
            }
            return src;
        });
    }

    /** Size-1 dimensions repeated to {@code newSizes}; extra leading dimensions are new. */
    PositionModel expand(long[] newSizes) {
        int lead = newSizes.length - sizes.length;
        return build(newSizes, idx -> {
            long[] src = new long[sizes.length];
            for (int d = 0; d < sizes.length; d++) {
                src[d] = sizes[d] == 1 ? 0 : idx[d + lead];
            }
            return src;
        });
    }

    /**
     * Whether some non-negative strides lay these positions out under their shape: what {@code Tensor.view} needs
     * to succeed. Brute force: take each stride from the first step along its dimension, then check every element.
     */
    boolean hasStrides() {
        if (positions.length == 0) {
            return true;
        }
        long[] strides = new long[sizes.length];
        long step = 1;
        for (int d = sizes.length - 1; d >= 0; d--) {
            if (sizes[d] > 1) {
                strides[d] = positions[Math.toIntExact(step)] - positions[0];
                if (strides[d] < 0) {
                    return false;
                }
            }
            step *= sizes[d];
        }
        for (int lin = 0; lin < positions.length; lin++) {
            long[] idx = Shape.unravel(lin, sizes);
            long expected = positions[0];
            for (int d = 0; d < sizes.length; d++) {
                expected += idx[d] * strides[d];
            }
            if (positions[lin] != expected) {
                return false;
            }
        }
        return true;
    }

    private PositionModel build(long[] newSizes, UnaryOperator<long[]> sourceIndex) {
        long[] out = new long[Math.toIntExact(Shape.numel(newSizes))];
        for (int i = 0; i < out.length; i++) {
            out[i] = at(sourceIndex.apply(Shape.unravel(i, newSizes)));
        }
        return new PositionModel(newSizes.clone(), out, valueAt);
    }
}
