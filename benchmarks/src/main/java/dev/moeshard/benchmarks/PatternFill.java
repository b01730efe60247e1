package dev.moeshard.benchmarks;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Fills memory with a non-repeating pattern before a benchmark runs. Freshly allocated memory is zero pages that the
 * kernel has not backed yet: reading them measures page faults, and some CPUs move zero lines faster than others.
 */
final class PatternFill {
    private PatternFill() {}

    static void fill(MemorySegment segment) {
        long i = 0;
        for (; i + Long.BYTES <= segment.byteSize(); i += Long.BYTES) {
            segment.set(ValueLayout.JAVA_LONG_UNALIGNED, i, i * 0x9E3779B97F4A7C15L);
        }
        for (; i < segment.byteSize(); i++) {
            segment.set(ValueLayout.JAVA_BYTE, i, (byte) i);
        }
    }
}
