package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.Arena;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Writes whose whole blocks go straight to disk ({@link DirectWrites}) leave the file as writes through the page
 * cache would: the partial blocks at their ends, which neighbouring tensors share, and buffers that cannot be sent
 * directly, all land where they belong.
 */
class DirectWritesTest {
    @TempDir
    Path dir;
    private String setting;

    /** Direct writes chosen on any machine (by default only few processors write directly), put back after. */
    @BeforeEach
    void chooseDirectWrites() {
        setting = System.getProperty(DirectWrites.PROPERTY);
        System.setProperty(DirectWrites.PROPERTY, "true");
    }

    @AfterEach
    void restoreTheSetting() {
        if (setting == null) {
            System.clearProperty(DirectWrites.PROPERTY);
        } else {
            System.setProperty(DirectWrites.PROPERTY, setting);
        }
    }

    /** Page-aligned memory whose byte {@code at} starts at the same offset within a page as {@code like}. */
    private static MemorySegment alignedLike(Arena arena, MemorySegment like, long bytes) {
        MemorySegment page = arena.allocate(bytes + 4096, 4096);
        return page.asSlice(Math.floorMod(like.address() - page.address(), 4096L), bytes);
    }

    @Test
    void largeWritesOffEveryBlockBoundaryLandByteForByteBesideTheirNeighbours() {
        Tensor odd = TestTensors.random(DType.U8, 1, 1001);
        Tensor large = TestTensors.random(DType.BF16, 2, 1536, 1024); // 3 MiB: whole blocks between partial ends
        Tensor small = TestTensors.random(DType.F32, 3, 777);
        Tensor after = TestTensors.random(DType.BF16, 4, 700, 1000);
        List<TensorSpec> specs = List.of(TensorSpec.of("odd", odd), TensorSpec.of("large", large),
                TensorSpec.of("small", small), TensorSpec.of("after", after));
        Path file = dir.resolve("direct.safetensors");
        try (Arena arena = Arena.ofConfined();
             SafetensorsWriter out = SafetensorsWriter.open(file, SafetensorsWriter.plan(specs, Map.of()))) {
            out.write("odd", odd);
            // The large tensor in three writes from page-aligned copies (sent directly where they span blocks), the
            // last one out of order; the small one and the last through the page cache; one from misaligned memory.
            MemorySegment region = out.tensor("large").segment();
            long[] cuts = {0, 1_000_003, 2_500_000, region.byteSize()};
            for (int k : new int[] {2, 0, 1}) {
                MemorySegment part = region.asSlice(cuts[k], cuts[k + 1] - cuts[k]);
                MemorySegment staged = alignedLike(arena, part, part.byteSize());
                staged.copyFrom(large.segment().asSlice(cuts[k], part.byteSize()));
                out.writeViaFile(part, staged);
            }
            out.writeViaFile(out.tensor("small").segment(), small.segment());
            MemorySegment misaligned = arena.allocate(after.byteSize() + 64, 64).asSlice(8, after.byteSize());
            misaligned.copyFrom(after.segment());
            out.writeViaFile(out.tensor("after").segment(), misaligned);
            out.commit();
        }
        try (SafetensorsFile written = SafetensorsFile.open(file)) {
            for (Map.Entry<String, Tensor> e : Map.of("odd", odd, "large", large, "small", small, "after", after)
                    .entrySet()) {
                assertArrayEquals(TestTensors.bytes(e.getValue()), TestTensors.bytes(written.tensor(e.getKey())),
                        e.getKey());
            }
        }
    }

    @Test
    void onlyWholeBlocksAlignedInMemoryTooAndEnoughOfThemGoStraightToDisk() throws IOException {
        Path file = Files.write(dir.resolve("probe.bin"), new byte[0]);
        DirectWrites direct = DirectWrites.open(file);
        assumeTrue(direct != null, "the file system of " + dir + " has no direct I/O");
        try (Arena arena = Arena.ofConfined(); direct) {
            MemorySegment page = arena.allocate(4 << 20, 4096);
            // 100 bytes before a block boundary in the file and in memory: whole blocks from byte 100 on.
            long[] part = direct.directPart(8092, page.asSlice(4096 - 100, 1 << 20));
            assertEquals(100, part[0]);
            assertEquals(100 + ((1 << 20) - 100) / 4096 * 4096, part[1]);
            assertArrayEquals(new long[] {0, 0}, direct.directPart(8092, page.asSlice(4096 - 92, 1 << 20)),
                    "memory at another offset within its block than the file");
            assertArrayEquals(new long[] {0, 0}, direct.directPart(0, page.asSlice(0, 64 * 1024)),
                    "too few blocks to be worth a call of their own");
        }
    }

    @Test
    void theSwitchTurnsDirectWritesOff() {
        System.setProperty(DirectWrites.PROPERTY, "false");
        assertNull(DirectWrites.open(dir));
    }

    /** By default only a machine whose CPU bounds the job writes directly; true and false decide for any machine. */
    @Test
    void autoWritesDirectlyOnFewProcessorsOnly() {
        assertTrue(DirectWrites.chosen("auto", 2));
        assertTrue(DirectWrites.chosen("auto", DirectWrites.MAX_AUTO_PROCESSORS));
        assertFalse(DirectWrites.chosen("auto", 16));
        assertTrue(DirectWrites.chosen("true", 16));
        assertFalse(DirectWrites.chosen("false", 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DirectWrites.chosen("yes", 2));
        assertTrue(e.getMessage().contains(DirectWrites.PROPERTY) && e.getMessage().contains("'yes'"),
                e.getMessage());
    }
}
