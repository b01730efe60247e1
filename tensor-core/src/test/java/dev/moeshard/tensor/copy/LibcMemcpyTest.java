package dev.moeshard.tensor.copy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The benchmarks' second yardstick must really copy, and refuse what would write out of bounds. */
class LibcMemcpyTest {

    @Test
    void copiesTheGivenBytesExactlyAndNothingBeyond() {
        LibcMemcpy memcpy = LibcMemcpy.find().orElseThrow(() -> new AssertionError("the C library's memcpy is on Linux"));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment from = arena.allocate(10_007);
            MemorySegment to = arena.allocate(10_007);
            SplittableRandom random = new SplittableRandom(7);
            for (long i = 0; i < from.byteSize(); i++) {
                from.set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt());
            }
            to.fill((byte) 0x5A);
            memcpy.copy(to, from, 10_000);
            assertEquals(-1, to.asSlice(0, 10_000).mismatch(from.asSlice(0, 10_000)));
            for (long i = 10_000; i < to.byteSize(); i++) {
                assertEquals((byte) 0x5A, to.get(ValueLayout.JAVA_BYTE, i), "byte " + i + " past the copy");
            }
        }
    }

    @Test
    void refusesACopyLongerThanEitherSegmentOrOnTheHeap() {
        LibcMemcpy memcpy = LibcMemcpy.find().orElseThrow();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment small = arena.allocate(16);
            MemorySegment large = arena.allocate(64);
            assertThrows(IndexOutOfBoundsException.class, () -> memcpy.copy(small, large, 17));
            assertThrows(IndexOutOfBoundsException.class, () -> memcpy.copy(large, small, 17));
            IllegalArgumentException heap = assertThrows(IllegalArgumentException.class,
                    () -> memcpy.copy(MemorySegment.ofArray(new byte[64]), large, 8));
            assertTrue(heap.getMessage().contains("native"));
        }
    }
}
