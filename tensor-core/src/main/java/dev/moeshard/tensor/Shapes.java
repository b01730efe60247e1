package dev.moeshard.tensor;

import java.util.Arrays;

/** Shape arithmetic shared by tensors, the copy planner and the file format: element counts, strides, checks. */
public final class Shapes {
    private Shapes() {}

    /** Number of elements of a tensor of these sizes; 1 for a 0-d tensor, 0 when any size is 0. */
    public static long numel(long[] sizes) {
        // A zero anywhere makes the count 0, whatever the other sizes multiply to: [2^62, 4, 0] is empty, not overflow.
        for (long s : sizes) {
            if (s == 0) {
                return 0;
            }
        }
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
            stride = saturatingMultiply(stride, Math.max(sizes[d], 1));
        }
        return strides;
    }

    /**
     * The product of two positive longs, or Long.MAX_VALUE past it. Only an empty tensor can get there ([4, 0, 2^63-1]
     * is a valid empty shape whose other sizes overflow), and an empty tensor never addresses an element through its
     * strides; a non-empty one has numel() fitting a long, so its strides are exact.
     */
    private static long saturatingMultiply(long a, long b) {
        long product = a * b;
        return Math.multiplyHigh(a, b) != 0 || product < 0 ? Long.MAX_VALUE : product;
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
