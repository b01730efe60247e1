package dev.moeshard.properties.tensor;

import java.util.Arrays;

/** Row-major index arithmetic on plain shapes, shared by the naive models of this package. */
final class Shape {
    private Shape() {}

    static long numel(long[] sizes) {
        long n = 1;
        for (long s : sizes) {
            n *= s;
        }
        return n;
    }

    /** The index of row-major position {@code linear} in {@code sizes}. */
    static long[] unravel(long linear, long[] sizes) {
        long[] idx = new long[sizes.length];
        for (int d = sizes.length - 1; d >= 0; d--) {
            idx[d] = linear % sizes[d];
            linear /= sizes[d];
        }
        return idx;
    }

    static long[] remove(long[] a, int i) {
        long[] out = new long[a.length - 1];
        for (int s = 0, k = 0; s < a.length; s++) {
            if (s != i) {
                out[k++] = a[s];
            }
        }
        return out;
    }

    static long[] insert(long[] a, int i, long value) {
        long[] out = new long[a.length + 1];
        for (int s = 0, k = 0; s < out.length; s++) {
            out[s] = s == i ? value : a[k++];
        }
        return out;
    }

    static String format(long[] sizes) {
        return Arrays.toString(sizes);
    }
}
