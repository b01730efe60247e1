package dev.moeshard.properties.harness;

import java.util.List;
import java.util.SplittableRandom;

/**
 * The random choices of one case. {@link #size()} grows from 1 with the case number, and generators scale what they
 * draw by it, so the first cases are tiny and a failure tends to show first on a small input: the cheap stand-in for
 * shrinking that this harness has.
 */
public final class Gen {
    private final SplittableRandom random;
    private final int size;

    Gen(long seed, int size) {
        this.random = new SplittableRandom(seed);
        this.size = size;
    }

    /** How large this case may be, from 1 (first case) up to {@link PropertyCheck#MAX_SIZE}. */
    public int size() {
        return size;
    }

    /** Uniform in {@code [lo, hi]}. */
    public int between(int lo, int hi) {
        return (int) random.nextLong(lo, (long) hi + 1);
    }

    /** Uniform in {@code [lo, hi]}. */
    public long between(long lo, long hi) {
        return random.nextLong(lo, hi + 1);
    }

    /** Uniform in {@code [lo, min(hi, lo + size())]}: small in early cases. */
    public int upTo(int lo, int hi) {
        return between(lo, Math.min(hi, lo + size));
    }

    public boolean chance(double p) {
        return random.nextDouble() < p;
    }

    public long nextLong() {
        return random.nextLong();
    }

    public int nextInt() {
        return random.nextInt();
    }

    public void nextBytes(byte[] bytes) {
        random.nextBytes(bytes);
    }

    public <T> T oneOf(List<T> choices) {
        return choices.get(random.nextInt(choices.size()));
    }

    @SafeVarargs
    public final <T> T oneOf(T... choices) {
        return choices[random.nextInt(choices.length)];
    }

    /** A tensor shape of rank 0 to {@code maxRank}, sizes up to {@code maxSize}; now and then a 0 or a 1. */
    public long[] shape(int maxRank, long maxSize) {
        long[] s = new long[upTo(0, maxRank)];
        for (int d = 0; d < s.length; d++) {
            double p = random.nextDouble();
            s[d] = p < 0.06 ? 0 : p < 0.2 ? 1 : between(2L, Math.max(2L, Math.min(maxSize, 1L + size)));
        }
        return s;
    }
}
