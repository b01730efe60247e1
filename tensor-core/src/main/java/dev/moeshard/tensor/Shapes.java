package dev.moeshard.tensor;

import java.util.Arrays;

/** Shape arithmetic shared by tensors, the copy planner and the file format: element counts, strides, checks. */
public final class Shapes {
    private Shapes() {}

    /** Number of elements of a tensor of these sizes; 1 for a 0-d tensor. */
    public static long numel(long[] sizes) {
        long n = 1;
        for (long s : sizes) {
            n = Math.multiplyExact(n, s);
        }
        return n;
    }

    /** Row-major strides, in elements, of a contiguous tensor of these sizes. */
    public static long[] contiguousStrides(long[] sizes) {
        long[] strides = new long[sizes.length];
        long stride = 1;
        for (int d = sizes.length - 1; d >= 0; d--) {
            strides[d] = stride;
            stride = Math.multiplyExact(stride, Math.max(sizes[d], 1));
        }
        return strides;
    }

    /** Checks that every size is non-negative and the element count fits a {@code long}. */
    public static long[] checkSizes(long[] sizes) {
        for (long s : sizes) {
            if (s < 0) {
                throw new IllegalArgumentException("negative size in shape " + format(sizes));
            }
        }
        try {
            numel(sizes);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("shape " + format(sizes) + " has more elements than a long can count", e);
        }
        return sizes.clone();
    }

    /** The bracket notation used in every message: {@code [8, 64, 32]}. */
    public static String format(long[] sizes) {
        return Arrays.toString(sizes);
    }
}
