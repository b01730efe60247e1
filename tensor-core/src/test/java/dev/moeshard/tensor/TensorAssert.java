package dev.moeshard.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.function.Supplier;

/** Element-by-element comparisons of a {@link Tensor} with a {@link NaiveTensor}. */
final class TensorAssert {
    private TensorAssert() {}

    /** Same shape, and {@code actual.getBits(i) == expected.get(i)} at every index. */
    static void assertBits(NaiveTensor expected, Tensor actual, Supplier<String> context) {
        assertArrayEquals(expected.sizes(), actual.sizes(), () -> "shape of " + actual + ": " + context.get());
        long[] shape = expected.sizes();
        long[] data = expected.data();
        long[] idx = new long[shape.length];
        for (int i = 0; i < data.length; i++) {
            long got = actual.getBits(idx);
            if (got != data[i]) {
                fail("element " + Arrays.toString(idx) + " of " + actual + ": expected 0x" + Long.toHexString(data[i])
                        + ", got 0x" + Long.toHexString(got) + "; " + context.get());
            }
            increment(idx, shape);
        }
    }

    /** Every element of {@code actual} lies at storage element {@code positions.get(i)}: the view's address map. */
    static void assertPositions(NaiveTensor positions, Tensor actual, Supplier<String> context) {
        assertArrayEquals(positions.sizes(), actual.sizes(), () -> "shape of " + actual + ": " + context.get());
        long w = actual.dtype().byteSize();
        long[] shape = positions.sizes();
        long[] data = positions.data();
        long[] idx = new long[shape.length];
        for (int i = 0; i < data.length; i++) {
            long got = actual.byteOffsetOf(idx);
            if (got != data[i] * w) {
                fail("element " + Arrays.toString(idx) + " of " + actual + " is at byte " + got + ", expected byte "
                        + data[i] * w + "; " + context.get());
            }
            increment(idx, shape);
        }
    }

    /** The bytes of {@code segment} equal {@code expected}; on failure names the first differing byte. */
    static void assertBytes(byte[] expected, MemorySegment segment, Supplier<String> context) {
        byte[] actual = segment.toArray(ValueLayout.JAVA_BYTE);
        int at = Arrays.mismatch(expected, actual);
        if (at >= 0) {
            fail(at < Math.min(expected.length, actual.length)
                    ? "storage byte " + at + " is 0x" + Integer.toHexString(actual[at] & 0xff) + ", expected 0x"
                            + Integer.toHexString(expected[at] & 0xff) + "; " + context.get()
                    : "storage has " + actual.length + " bytes, expected " + expected.length + "; " + context.get());
        }
    }

    static void increment(long[] idx, long[] shape) {
        for (int k = shape.length - 1; k >= 0; k--) {
            if (++idx[k] < shape[k]) {
                return;
            }
            idx[k] = 0;
        }
    }
}
