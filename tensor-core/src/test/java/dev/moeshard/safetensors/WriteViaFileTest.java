package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Bytes put in with a positional write land where the region lies, beside bytes written through the mapping. */
class WriteViaFileTest {
    @TempDir
    Path dir;

    @Test
    void bytesWrittenViaTheFileLandInTheirTensorBesideBytesWrittenThroughTheMapping() {
        Tensor a = TestTensors.random(DType.BF16, 1, 37, 29);
        Tensor b = TestTensors.random(DType.F32, 2, 1000, 3);
        Tensor c = TestTensors.random(DType.U8, 3, 5000);
        List<TensorSpec> specs = List.of(TensorSpec.of("a", a), TensorSpec.of("b", b), TensorSpec.of("c", c));
        Path file = dir.resolve("mixed.safetensors");
        try (SafetensorsWriter out = SafetensorsWriter.open(file, SafetensorsWriter.plan(specs, Map.of()))) {
            out.write("a", a);
            // b in two writes, the second half first, so that the positions come from the region and not an order.
            MemorySegment region = out.tensor("b").segment();
            long half = region.byteSize() / 2 + 4;
            out.writeViaFile(region.asSlice(half), b.segment().asSlice(half));
            out.writeViaFile(region.asSlice(0, half), b.segment().asSlice(0, half));
            out.write("c", c);
            out.commit();
        }
        try (SafetensorsFile written = SafetensorsFile.open(file)) {
            assertArrayEquals(TestTensors.bytes(a), TestTensors.bytes(written.tensor("a")));
            assertArrayEquals(TestTensors.bytes(b), TestTensors.bytes(written.tensor("b")));
            assertArrayEquals(TestTensors.bytes(c), TestTensors.bytes(written.tensor("c")));
        }
    }

    /**
     * With direct writes asked for, the bulk of a write from a buffer laid out as {@link SafetensorsWriter#bufferOffsetFor}
     * says goes past the page cache (where the file system takes it) and the ragged ends through it; without, all of
     * it goes through the page cache. Either way the file holds the bytes, and the block checksums taken while writing
     * equal those read back from it, with a tensor written through the mapping between the writes.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void largeWritesLandByteForByteAndTheChecksumsTakenWhileWritingAreTheFilesOwn(boolean direct) {
        Tensor odd = TestTensors.random(DType.U8, 7, 1001); // puts the large tensor off any block boundary
        Tensor large = TestTensors.random(DType.BF16, 8, 1536, 1024);
        Tensor mapped = TestTensors.random(DType.F32, 9, 333);
        List<TensorSpec> specs = List.of(TensorSpec.of("odd", odd), TensorSpec.of("large", large),
                TensorSpec.of("mapped", mapped));
        Path file = dir.resolve("direct-" + direct + ".safetensors");
        List<Integer> taken;
        try (SafetensorsWriter out = SafetensorsWriter.open(file, SafetensorsWriter.plan(specs, Map.of()), direct);
             Arena arena = Arena.ofConfined()) {
            out.writeViaFile(out.tensor("odd").segment(), odd.segment());
            MemorySegment region = out.tensor("large").segment();
            long half = region.byteSize() / 2 + 6;
            for (long[] run : new long[][] {{half, region.byteSize()}, {0, half}}) {
                MemorySegment part = region.asSlice(run[0], run[1] - run[0]);
                long offset = out.bufferOffsetFor(part);
                MemorySegment buffer = arena.allocate(offset + part.byteSize(), SafetensorsWriter.DIRECT_BUFFER_ALIGNMENT)
                        .asSlice(offset, part.byteSize());
                buffer.copyFrom(large.segment().asSlice(run[0], part.byteSize()));
                out.writeViaFile(part, buffer);
            }
            out.write("mapped", mapped);
            out.commit();
            taken = out.blockChecksums();
        }
        try (SafetensorsFile written = SafetensorsFile.open(file)) {
            assertArrayEquals(TestTensors.bytes(odd), TestTensors.bytes(written.tensor("odd")));
            assertArrayEquals(TestTensors.bytes(large), TestTensors.bytes(written.tensor("large")));
            assertArrayEquals(TestTensors.bytes(mapped), TestTensors.bytes(written.tensor("mapped")));
        }
        assertEquals(BlockChecksums.of(file), taken);
    }

    @Test
    void aRegionOutsideTheTensorDataOrOfAnotherSizeIsRefusedAndNothingIsLeftBehind() throws IOException {
        Tensor a = TestTensors.random(DType.F32, 4, 64);
        Path file = dir.resolve("refused.safetensors");
        try (SafetensorsWriter out = SafetensorsWriter.open(file, SafetensorsWriter.plan(List.of(TensorSpec.of("a", a)),
                Map.of()))) {
            MemorySegment region = out.tensor("a").segment();
            MemorySegment elsewhere = MemorySegment.ofArray(new byte[(int) region.byteSize()]);
            IllegalArgumentException outside = assertThrows(IllegalArgumentException.class,
                    () -> out.writeViaFile(elsewhere, a.segment()));
            assertTrue(outside.getMessage().contains("refused.safetensors"), outside.getMessage());
            assertThrows(IllegalArgumentException.class, () -> out.writeViaFile(region, a.segment().asSlice(4)));
        }
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(), left.toList(), "neither the file nor its temporary is left");
        }
    }

    @Test
    void theShardedWriterSendsEachRegionToTheShardThatHoldsIt() {
        Tensor a = TestTensors.random(DType.BF16, 5, 300, 7);
        Tensor b = TestTensors.random(DType.BF16, 6, 200, 9);
        ShardLayout layout = ShardLayout.of(List.of(TensorSpec.of("a", a), TensorSpec.of("b", b)), a.byteSize());
        try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(dir, layout, Map.of())) {
            out.writeViaFile(out.tensor("b").segment(), b.segment());
            out.writeViaFile(out.tensor("a").segment(), a.segment());
            assertThrows(IllegalArgumentException.class,
                    () -> out.writeViaFile(MemorySegment.ofArray(new byte[8]), MemorySegment.ofArray(new byte[8])));
            out.commit();
        }
        try (Checkpoint written = Checkpoint.open(dir)) {
            assertArrayEquals(TestTensors.bytes(a), TestTensors.bytes(written.tensor("a")));
            assertArrayEquals(TestTensors.bytes(b), TestTensors.bytes(written.tensor("b")));
        }
    }
}
