package dev.moeshard.tensor;

import java.util.Arrays;
import java.util.function.LongUnaryOperator;
import java.util.function.UnaryOperator;

/**
 * The reference model that tensor tests compare against: a flat row-major {@code long[]} (raw element bits, or
 * storage positions) plus sizes, and nothing else. No strides, no offsets: every view here is materialized by
 * computing each element of the result from its index, so a wrong stride formula in {@link Tensor} cannot be
 * mirrored here by accident.
 *
 * <p>Two uses: holding the expected <em>values</em> of a view chain, and holding the expected <em>storage
 * positions</em> (element offsets) of a view chain when started from {@link #iota} over a contiguous base; the
 * latter tells which storage bytes a view covers without asking the tensor under test.
 */
final class NaiveTensor {
    private final long[] sizes;
    private final long[] data;

    NaiveTensor(long[] sizes, long[] data) {
        for (long s : sizes) {
            if (s < 0) {
                throw new IllegalArgumentException("negative size in " + Arrays.toString(sizes));
            }
        }
        if (numelOf(sizes) != data.length) {
            throw new IllegalArgumentException(data.length + " values for shape " + Arrays.toString(sizes));
        }
        this.sizes = sizes.clone();
        this.data = data;
    }

    /** Element {@code i} (row-major) is {@code f(i)}. */
    static NaiveTensor generate(long[] sizes, LongUnaryOperator f) {
        long[] data = new long[Math.toIntExact(numelOf(sizes))];
        for (int i = 0; i < data.length; i++) {
            data[i] = f.applyAsLong(i);
        }
        return new NaiveTensor(sizes, data);
    }

    /** Element {@code i} is {@code i}: the storage positions of a contiguous tensor at offset 0. */
    static NaiveTensor iota(long... sizes) {
        return generate(sizes, i -> i);
    }

    long[] sizes() { return sizes.clone(); }

    int dim() { return sizes.length; }

    long size(int dim) { return sizes[norm(dim, sizes.length)]; }

    long numel() { return data.length; }

    /** The flat row-major data (not a copy). */
    long[] data() { return data; }

    long get(long... index) { return data[Math.toIntExact(linear(sizes, index))]; }

    /** Element by element through {@code f}, same shape. */
    NaiveTensor map(LongUnaryOperator f) {
        long[] out = new long[data.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = f.applyAsLong(data[i]);
        }
        return new NaiveTensor(sizes, out);
    }

    // ------------------------------------------------------------------------------------------------ naive views

    NaiveTensor select(int dim, long index) {
        int d = norm(dim, sizes.length);
        if (index < 0 || index >= sizes[d]) {
            throw new IndexOutOfBoundsException("naive select " + index + " of " + Arrays.toString(sizes));
        }
        return build(remove(sizes, d), idx -> insert(idx, d, index));
    }

    NaiveTensor narrow(int dim, long start, long length) {
        return slice(dim, start, start + length, 1);
    }

    NaiveTensor slice(int dim, long start, long end, long step) {
        int d = norm(dim, sizes.length);
        if (step <= 0 || start < 0 || end < start || end > sizes[d]) {
            throw new IllegalArgumentException("naive slice " + start + ":" + end + ":" + step + " of " + Arrays.toString(sizes));
        }
        long count = 0;
        for (long i = start; i < end; i += step) {
            count++;
            if (i > end - step) {
                break; // the next i would overflow or pass end
            }
        }
        long[] out = sizes.clone();
        out[d] = count;
        return build(out, idx -> {
            long[] src = idx.clone();
            src[d] = start + idx[d] * step;
            return src;
        });
    }

    NaiveTensor transpose(int dim0, int dim1) {
        int a = norm(dim0, sizes.length);
        int b = norm(dim1, sizes.length);
        int[] order = new int[sizes.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        order[a] = b;
        order[b] = a;
        return permute(order);
    }

    /** Dimension {@code i} of the result is dimension {@code order[i]} of this. */
    NaiveTensor permute(int... order) {
        if (order.length != sizes.length) {
            throw new IllegalArgumentException("naive permute " + Arrays.toString(order) + " of " + Arrays.toString(sizes));
        }
        int[] o = new int[order.length];
        boolean[] seen = new boolean[order.length];
        long[] out = new long[order.length];
        for (int i = 0; i < order.length; i++) {
            o[i] = norm(order[i], sizes.length);
            if (seen[o[i]]) {
                throw new IllegalArgumentException("naive permute repeats " + Arrays.toString(order));
            }
            seen[o[i]] = true;
            out[i] = sizes[o[i]];
        }
        return build(out, idx -> {
            long[] src = new long[idx.length];
            for (int i = 0; i < idx.length; i++) {
                src[o[i]] = idx[i];
            }
            return src;
        });
    }

    /** The same row-major sequence of elements under another shape (explicit sizes, no -1). */
    NaiveTensor reshape(long... newSizes) {
        if (numelOf(newSizes) != data.length) {
            throw new IllegalArgumentException("naive reshape " + Arrays.toString(sizes) + " to " + Arrays.toString(newSizes));
        }
        return new NaiveTensor(newSizes, data.clone());
    }

    NaiveTensor unsqueeze(int dim) {
        int d = norm(dim, sizes.length + 1);
        return build(insert(sizes, d, 1), idx -> remove(idx, d));
    }

    NaiveTensor squeeze() {
        int kept = 0;
        for (long s : sizes) {
            kept += s == 1 ? 0 : 1;
        }
        long[] out = new long[kept];
        for (int d = 0, k = 0; d < sizes.length; d++) {
            if (sizes[d] != 1) {
                out[k++] = sizes[d];
            }
        }
        return build(out, idx -> {
            long[] src = new long[sizes.length];
            for (int d = 0, k = 0; d < sizes.length; d++) {
                src[d] = sizes[d] == 1 ? 0 : idx[k++];
            }
            return src;
        });
    }

    NaiveTensor squeeze(int dim) {
        int d = norm(dim, sizes.length);
        if (sizes[d] != 1) {
            throw new IllegalArgumentException("naive squeeze of dimension " + d + " of " + Arrays.toString(sizes));
        }
        return build(remove(sizes, d), idx -> insert(idx, d, 0));
    }

    /** Repeats size-1 dimensions; -1 keeps a size; extra leading dimensions are new. */
    NaiveTensor expand(long... newSizes) {
        int lead = newSizes.length - sizes.length;
        if (lead < 0) {
            throw new IllegalArgumentException("naive expand to fewer dimensions");
        }
        long[] out = new long[newSizes.length];
        for (int i = 0; i < out.length; i++) {
            int d = i - lead;
            long want = newSizes[i];
            if (d >= 0 && want == -1) {
                out[i] = sizes[d];
            } else if (want < 0 || (d >= 0 && sizes[d] != 1 && sizes[d] != want)) {
                throw new IllegalArgumentException("naive expand " + Arrays.toString(sizes) + " to " + Arrays.toString(newSizes));
            } else {
                out[i] = want;
            }
        }
        return build(out, idx -> {
            long[] src = new long[sizes.length];
            for (int d = 0; d < sizes.length; d++) {
                src[d] = sizes[d] == 1 ? 0 : idx[d + lead];
            }
            return src;
        });
    }

    // ------------------------------------------------------------------------------------------------ reference facts

    /**
     * Brute force: the strides with which {@code shape} could view the elements whose storage positions are
     * {@code positions} (in row-major order), or {@code null} if no non-negative strides reproduce every position.
     * Strides of size-1 dimensions are reported as 0 (any value would do). {@code positions} comes from a chain of
     * naive views started at {@link #iota}.
     */
    static long[] viewStrides(NaiveTensor positions, long[] shape) {
        if (numelOf(shape) != positions.numel()) {
            throw new IllegalArgumentException("element counts differ");
        }
        long[] strides = new long[shape.length];
        if (positions.numel() == 0) {
            return strides;
        }
        long[] rowMajor = rowMajorStrides(shape);
        long base = positions.data[0];
        for (int k = 0; k < shape.length; k++) {
            if (shape[k] > 1) {
                strides[k] = positions.data[Math.toIntExact(rowMajor[k])] - base;
                if (strides[k] < 0) {
                    return null;
                }
            }
        }
        long[] idx = new long[shape.length];
        for (int lin = 0; lin < positions.data.length; lin++) {
            long expected = base;
            for (int k = 0; k < shape.length; k++) {
                expected += idx[k] * strides[k];
            }
            if (positions.data[lin] != expected) {
                return null;
            }
            increment(idx, shape);
        }
        return strides;
    }

    static long numelOf(long[] sizes) {
        long n = 1;
        for (long s : sizes) {
            n = Math.multiplyExact(n, s);
        }
        return n;
    }

    @Override
    public String toString() {
        return "NaiveTensor" + Arrays.toString(sizes);
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** The result of the given shape whose element at {@code idx} is this tensor's element at {@code srcIndex(idx)}. */
    private NaiveTensor build(long[] newSizes, UnaryOperator<long[]> srcIndex) {
        long[] out = new long[Math.toIntExact(numelOf(newSizes))];
        long[] idx = new long[newSizes.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = get(srcIndex.apply(idx.clone()));
            increment(idx, newSizes);
        }
        return new NaiveTensor(newSizes, out);
    }

    private static long linear(long[] sizes, long[] index) {
        if (index.length != sizes.length) {
            throw new IllegalArgumentException("index " + Arrays.toString(index) + " for shape " + Arrays.toString(sizes));
        }
        long lin = 0;
        for (int d = 0; d < sizes.length; d++) {
            if (index[d] < 0 || index[d] >= sizes[d]) {
                throw new IndexOutOfBoundsException("index " + Arrays.toString(index) + " for shape " + Arrays.toString(sizes));
            }
            lin = lin * sizes[d] + index[d];
        }
        return lin;
    }

    private static long[] rowMajorStrides(long[] shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            s[d] = acc;
            acc *= shape[d];
        }
        return s;
    }

    private static void increment(long[] idx, long[] shape) {
        for (int k = shape.length - 1; k >= 0; k--) {
            if (++idx[k] < shape[k]) {
                return;
            }
            idx[k] = 0;
        }
    }

    private static int norm(int dim, int rank) {
        int d = dim < 0 ? dim + rank : dim;
        if (d < 0 || d >= rank) {
            throw new IllegalArgumentException("naive: dimension " + dim + " of rank " + rank);
        }
        return d;
    }

    private static long[] remove(long[] a, int i) {
        long[] out = new long[a.length - 1];
        for (int s = 0, k = 0; s < a.length; s++) {
            if (s != i) {
                out[k++] = a[s];
            }
        }
        return out;
    }

    private static long[] insert(long[] a, int i, long value) {
        long[] out = new long[a.length + 1];
        for (int s = 0, k = 0; s < out.length; s++) {
            out[s] = s == i ? value : a[k++];
        }
        return out;
    }
}
