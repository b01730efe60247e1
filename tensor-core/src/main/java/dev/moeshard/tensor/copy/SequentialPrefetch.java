package dev.moeshard.tensor.copy;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Reads a region once, one load per cache line, in address order, so that it is in cache before a kernel visits it
 * out of order.
 *
 * <p>Java has no prefetch instruction. A transpose reads its source a few bytes from each of many lines that lie a
 * whole row apart, often on different pages; the hardware prefetchers do not follow that pattern, so every line
 * comes from memory at full latency. A sequential pass over the same bytes runs at streaming bandwidth (several
 * times the transpose's rate) and leaves the lines in L2, where the transpose then finds them.
 */
final class SequentialPrefetch {
    private static final int LINE = 64;

    /** Written with the loads' sum so that the JIT cannot drop them as dead code. */
    @SuppressWarnings("unused")
    private static volatile long sink;

    private SequentialPrefetch() {}

    /** Loads one byte of every cache line in {@code [offset, offset + bytes)}. */
    static void region(MemorySegment segment, long offset, long bytes) {
        long sum = 0;
        long end = offset + bytes;
        for (long at = offset; at < end; at += LINE) {
            sum += segment.get(ValueLayout.JAVA_BYTE, at);
        }
        sink = sum;
    }
}
