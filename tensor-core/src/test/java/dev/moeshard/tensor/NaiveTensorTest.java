package dev.moeshard.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.BitSet;
import java.util.HashSet;
import java.util.Set;
import java.util.function.LongUnaryOperator;
import org.junit.jupiter.api.Test;

/** The reference model checked by hand on tiny cases, so that the differential tests rest on something. */
class NaiveTensorTest {
    private final NaiveTensor m = NaiveTensor.iota(2, 3); // [[0, 1, 2], [3, 4, 5]]

    @Test
    void viewsByHand() {
        assertArrayEquals(new long[] {0, 3, 1, 4, 2, 5}, m.transpose(0, 1).data());
        assertArrayEquals(new long[] {3, 2}, m.transpose(0, 1).sizes());
        assertArrayEquals(new long[] {3, 4, 5}, m.select(0, 1).data());
        assertArrayEquals(new long[] {1, 4}, m.select(1, 1).data());
        assertArrayEquals(new long[] {1, 2, 4, 5}, m.narrow(1, 1, 2).data());
        assertArrayEquals(new long[] {0, 2, 3, 5}, m.slice(1, 0, 3, 2).data());
        assertArrayEquals(new long[] {2, 5}, m.slice(1, 2, 3, 5).data());
        assertArrayEquals(new long[] {0}, m.slice(0, 0, 2, Long.MAX_VALUE).select(1, 0).data());
        assertArrayEquals(new long[] {2, 3, 1}, m.unsqueeze(2).sizes());
        assertArrayEquals(new long[] {1, 2, 3}, m.unsqueeze(0).sizes());
        assertArrayEquals(new long[] {0, 1, 2, 3, 4, 5}, m.unsqueeze(1).squeeze().data());
        assertArrayEquals(new long[] {2, 3}, m.unsqueeze(1).squeeze(1).sizes());
        assertArrayEquals(new long[] {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}, m.expand(2, 2, 3).data());
        assertArrayEquals(new long[] {3, 3, 4, 4, 5, 5}, m.select(0, 1).unsqueeze(1).expand(3, 2).data());
        assertArrayEquals(new long[] {0, 1, 2, 3, 4, 5}, m.reshape(3, 2).data());
        NaiveTensor cube = NaiveTensor.iota(2, 3, 4);
        assertEquals(cube.get(1, 2, 3), cube.permute(2, 0, 1).get(3, 1, 2));
        assertEquals(cube.get(1, 0, 3), cube.permute(1, 2, 0).get(0, 3, 1));
    }

    @Test
    void viewStridesByHand() {
        assertArrayEquals(new long[] {1}, NaiveTensor.viewStrides(m, new long[] {6}));
        assertArrayEquals(new long[] {2, 1}, NaiveTensor.viewStrides(m, new long[] {3, 2}));
        assertNull(NaiveTensor.viewStrides(m.transpose(0, 1), new long[] {6}));
        assertArrayEquals(new long[] {1, 3}, NaiveTensor.viewStrides(m.transpose(0, 1), new long[] {3, 2}));
        assertArrayEquals(new long[] {0, 1}, NaiveTensor.viewStrides(m.select(0, 1).unsqueeze(0).expand(4, 3), new long[] {4, 3}));
        assertNull(NaiveTensor.viewStrides(m.select(0, 1).unsqueeze(0).expand(4, 3), new long[] {12}));
        assertArrayEquals(new long[] {0}, NaiveTensor.viewStrides(m.select(1, 1).select(0, 0).expand(5), new long[] {5}));
    }

    @Test
    void randomBitsAreDistinct() {
        for (int width : new int[] {1, 2}) {
            LongUnaryOperator f = RandomBits.distinct(width, 17);
            int n = 1 << (8 * width);
            BitSet seen = new BitSet(n);
            for (int i = 0; i < n; i++) {
                long v = f.applyAsLong(i);
                assertEquals(v, v & (n - 1), "bits beyond the width");
                seen.set((int) v);
            }
            assertEquals(n, seen.cardinality(), "width " + width + " is not a bijection");
        }
        for (int width : new int[] {4, 8}) {
            LongUnaryOperator f = RandomBits.distinct(width, 17);
            Set<Long> seen = new HashSet<>();
            for (int i = 0; i < 100_000; i++) {
                seen.add(f.applyAsLong(i));
            }
            assertEquals(100_000, seen.size(), "width " + width);
        }
    }
}
