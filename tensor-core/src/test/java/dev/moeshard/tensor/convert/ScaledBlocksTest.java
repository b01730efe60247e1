package dev.moeshard.tensor.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.simd.VectorSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link ScaledConverter#convertBlocks} (a whole row, the scale changing every block) gives, byte for byte, what one
 * single-scale call per block of the scalar converter gives, which {@link ScaledConvertersTest} holds to
 * {@link dev.moeshard.tensor.FloatFormat}: scalar and SIMD, rows that end in a partial block, block sizes that are
 * and are not a multiple of every vector width, odd offsets, native memory and both kinds of heap segment.
 *
 * <p>Scales are never NaN here: a NaN code times a NaN scale may keep either NaN's sign (see ScaledConvertersTest),
 * and this test compares two converters' bytes.
 */
class ScaledBlocksTest {
    private static final int[] ROW_LENGTHS = {0, 1, 15, 16, 127, 128, 129, 256, 259, 300, 1000 + 3, 2048};
    private static final long[] BLOCK_SIZES = {128, 64, 100, 7};
    private static final long[][] OFFSETS = {{0, 0}, {3, 5}}; // {source, destination} bytes
    private static final float[] SPECIAL_SCALES = {
            0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1e38f, 0x1p-130f, Float.MIN_VALUE, 65504f};

    enum Memory { NATIVE, BYTE_ARRAY, LONG_ARRAY }

    static Stream<Arguments> pairs() {
        return ScaledConvertersTest.pairs();
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("pairs")
    void rowsMatchOneScalarCallPerBlock(DType from, DType to) {
        Random random = new Random(from.ordinal() * 131L + to.ordinal());
        ScaledConverter scalar = Converters.scaledScalar(from, to);
        ScaledConverter simd = simd(from, to);
        for (int length : ROW_LENGTHS) {
            for (long block : BLOCK_SIZES) {
                for (long[] offset : OFFSETS) {
                    for (Memory memory : Memory.values()) {
                        Row row = Row.random(random, from, to, length, block, offset);
                        byte[] want = row.perBlock(scalar, memory);
                        String where = from + " -> " + to + ", " + length + " elements in blocks of " + block
                                + " at offsets " + offset[0] + "/" + offset[1] + ", " + memory;
                        assertBytes(want, row.blocks(scalar, memory), "scalar rows, " + where);
                        assertBytes(want, row.blocks(simd, memory), "SIMD rows, " + where);
                        assertBytes(want, row.perBlock(simd, memory), "SIMD blocks, " + where);
                    }
                }
            }
        }
    }

    /** Once C2 has compiled the row loop, with its block edges, the intrinsics give the same bytes. */
    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("pairs")
    void simdRowsMatchOnceCompiled(DType from, DType to) {
        ScaledConverter simd = simd(from, to);
        float[] scales = {0.5f, 3f, -1.25f};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(300);
            MemorySegment dst = arena.allocate(300 * 4);
            for (int i = 0; i < 20_000; i++) {
                simd.convertBlocks(src, 0, dst, 0, 300, scales, 0, 128);
            }
        }
        Random random = new Random(7);
        ScaledConverter scalar = Converters.scaledScalar(from, to);
        for (int length : new int[] {259, 300, 2048}) {
            Row row = Row.random(random, from, to, length, 128, new long[] {0, 0});
            assertBytes(row.perBlock(scalar, Memory.NATIVE), row.blocks(simd, Memory.NATIVE),
                    from + " -> " + to + ", " + length + " elements, compiled");
        }
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("pairs")
    void missingScalesAreRefusedBeforeAnythingIsWritten(DType from, DType to) {
        for (ScaledConverter converter : new ScaledConverter[] {Converters.scaledScalar(from, to), simd(from, to)}) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment src = arena.allocate(300);
                src.fill((byte) 0x38);
                MemorySegment dst = arena.allocate(300 * 4);
                // 300 elements in blocks of 128 need 3 scales.
                assertThrows(IndexOutOfBoundsException.class,
                        () -> converter.convertBlocks(src, 0, dst, 0, 300, new float[] {1f, 2f}, 0, 128));
                assertThrows(IndexOutOfBoundsException.class,
                        () -> converter.convertBlocks(src, 0, dst, 0, 300, new float[] {1f, 2f, 3f}, 1, 128));
                assertThrows(IndexOutOfBoundsException.class,
                        () -> converter.convertBlocks(src, 0, dst, 0, 300, new float[] {1f, 2f, 3f}, -1, 128));
                assertEquals(-1, dst.mismatch(arena.allocate(dst.byteSize())), "nothing written");
                var e = assertThrows(IllegalArgumentException.class,
                        () -> converter.convertBlocks(src, 0, dst, 0, 300, new float[] {1f}, 0, 0));
                assertEquals("blocks of 0 elements: a block holds at least one", e.getMessage());
                converter.convertBlocks(src, 0, dst, 0, 0, new float[0], 0, 128); // no elements, no scale needed
            }
        }
    }

    /** One row: FP8 bytes, a scale per block, the bytes the destination holds before. */
    private record Row(DType to, byte[] source, byte[] fill, float[] scales, int length, long block, long[] offset) {
        static Row random(Random random, DType from, DType to, int length, long block, long[] offset) {
            byte[] source = new byte[(int) offset[0] + length + 8];
            random.nextBytes(source);
            byte[] fill = new byte[(int) offset[1] + length * to.byteSize() + 8];
            random.nextBytes(fill);
            // One more scale than the row needs, and the row starts at the second: scaleOffset is honoured.
            float[] scales = new float[(int) Math.ceilDiv(length, block) + 1];
            for (int k = 0; k < scales.length; k++) {
                scales[k] = random.nextInt(4) == 0 ? SPECIAL_SCALES[random.nextInt(SPECIAL_SCALES.length)]
                        : (float) Math.scalb(random.nextDouble(-1, 1), random.nextInt(-20, 21));
            }
            return new Row(to, source, fill, scales, length, block, offset);
        }

        /** The row as one call of {@code converter}. */
        byte[] blocks(ScaledConverter converter, Memory memory) {
            return run(memory, (src, dst) -> converter.convertBlocks(src, offset[0], dst, offset[1], length, scales, 1,
                    block));
        }

        /** The row as one single-scale call of {@code converter} per block. */
        byte[] perBlock(ScaledConverter converter, Memory memory) {
            int width = to.byteSize();
            return run(memory, (src, dst) -> {
                for (long start = 0, k = 1; start < length; start += block, k++) {
                    converter.convert(src, offset[0] + start, dst, offset[1] + start * width,
                            Math.min(block, length - start), scales[(int) k]);
                }
            });
        }

        private byte[] run(Memory memory, BiConsumer<MemorySegment, MemorySegment> call) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment src = segment(arena, memory, source);
                MemorySegment dst = segment(arena, memory, fill);
                call.accept(src, dst);
                return dst.toArray(ValueLayout.JAVA_BYTE);
            }
        }

        private static MemorySegment segment(Arena arena, Memory memory, byte[] bytes) {
            MemorySegment segment = switch (memory) {
                case NATIVE -> arena.allocate(bytes.length);
                case BYTE_ARRAY -> MemorySegment.ofArray(new byte[bytes.length]);
                // The Vector API cannot address a long[]: the whole row goes to the scalar converter.
                case LONG_ARRAY -> MemorySegment.ofArray(new long[(bytes.length + 7) / 8]).asSlice(0, bytes.length);
            };
            return segment.copyFrom(MemorySegment.ofArray(bytes));
        }
    }

    private static void assertBytes(byte[] want, byte[] got, String where) {
        int at = Arrays.mismatch(want, got);
        if (at >= 0) {
            throw new AssertionError(where + ": first difference at byte " + at + ", expected "
                    + (want[at] & 0xff) + ", got " + (got[at] & 0xff));
        }
    }

    private static ScaledConverter simd(DType from, DType to) {
        if (!VectorSupport.enabled()) {
            return Converters.scaledScalar(from, to); // the scalar checks then run twice; SIMD is off here
        }
        return Converters.scaledSimd(from, to).orElseThrow(() -> new AssertionError("no SIMD scaled converter "
                + from + " -> " + to + " although SIMD is on (" + VectorSupport.reason() + ")"));
    }
}
