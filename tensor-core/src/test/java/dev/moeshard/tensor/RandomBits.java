package dev.moeshard.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.function.LongUnaryOperator;

/**
 * Random but distinct raw element bits for tests: element {@code i} gets {@code pattern(i)}, where the pattern is a
 * seeded bijection on the element's bits, so no two of the first {@code 2^(8·width)} elements look alike (all of
 * them for 2-, 4- and 8-byte elements in any test-sized tensor; 256 at a time for 1-byte elements). A copy that
 * reads the wrong element therefore almost always shows up.
 */
final class RandomBits {
    private RandomBits() {}

    /** A seeded bijection on the low {@code 8·width} bits, for {@code width} in 1, 2, 4, 8. */
    static LongUnaryOperator distinct(int width, long seed) {
        int bits = 8 * width;
        long mask = bits == 64 ? -1L : (1L << bits) - 1;
        SplittableRandom random = new SplittableRandom(seed);
        long mul1 = random.nextLong() | 1;
        long add1 = random.nextLong();
        long mul2 = random.nextLong() | 1;
        int shift = Math.max(bits / 2, 1);
        return i -> {
            // x -> odd·x + c, x ^= x >>> s and x -> odd·x are each bijections modulo 2^bits.
            long x = (i * mul1 + add1) & mask;
            x ^= x >>> shift;
            x = (x * mul2) & mask;
            x ^= x >>> (shift + 1) % bits;
            return x & mask;
        };
    }

    /**
     * Fills a freshly allocated contiguous tensor (offset 0, row-major strides) with distinct random bits and returns
     * the same values as a naive tensor. Writes the storage directly, not through the tensor's index arithmetic.
     */
    static NaiveTensor fill(Tensor fresh, long seed) {
        requireFresh(fresh);
        int w = fresh.dtype().byteSize();
        NaiveTensor values = NaiveTensor.generate(fresh.sizes(), distinct(w, seed));
        long[] data = values.data();
        MemorySegment storage = fresh.storage();
        for (int i = 0; i < data.length; i++) {
            ElementAccess.writeBits(storage, (long) i * w, w, data[i]);
        }
        return values;
    }

    /**
     * Like {@link #fill} without building the naive model, for tensors too large for one: returns the pattern, so
     * that element {@code i} (row-major) of {@code fresh} is {@code pattern.applyAsLong(i)}.
     */
    static LongUnaryOperator fillLarge(Tensor fresh, long seed) {
        requireFresh(fresh);
        int w = fresh.dtype().byteSize();
        LongUnaryOperator pattern = distinct(w, seed);
        MemorySegment storage = fresh.storage();
        long n = fresh.numel();
        for (long i = 0; i < n; i++) {
            ElementAccess.writeBits(storage, i * w, w, pattern.applyAsLong(i));
        }
        return pattern;
    }

    /** Fills every byte of {@code segment} with seeded random bytes (a sentinel pattern) and returns a copy of them. */
    static byte[] fillBytes(MemorySegment segment, long seed) {
        byte[] bytes = new byte[Math.toIntExact(segment.byteSize())];
        new SplittableRandom(seed).nextBytes(bytes);
        MemorySegment.copy(bytes, 0, segment, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return bytes;
    }

    /** A fresh tensor is row-major at offset 0 over exactly its storage. */
    static void requireFresh(Tensor t) {
        long expected = 1;
        long[] sizes = t.sizes();
        long[] strides = t.strides();
        for (int d = sizes.length - 1; d >= 0; d--) {
            if (strides[d] != expected) {
                throw new IllegalArgumentException("not a freshly allocated tensor: " + t);
            }
            expected *= Math.max(sizes[d], 1);
        }
        if (t.offset() != 0) {
            throw new IllegalArgumentException("not a freshly allocated tensor: " + t);
        }
    }
}
