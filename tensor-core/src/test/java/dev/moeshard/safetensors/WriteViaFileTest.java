package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
     * The block checksums taken while writing equal those read back from the file, with writes in any order, one of
     * them large and off any block boundary, and a tensor written through the mapping between them.
     */
    @Test
    void theChecksumsTakenWhileWritingAreThoseOfTheFilesBytes() {
        Tensor odd = TestTensors.random(DType.U8, 7, 1001); // puts the large tensor off any block boundary
        Tensor large = TestTensors.random(DType.BF16, 8, 1536, 1024);
        Tensor mapped = TestTensors.random(DType.F32, 9, 333);
        List<TensorSpec> specs = List.of(TensorSpec.of("odd", odd), TensorSpec.of("large", large),
                TensorSpec.of("mapped", mapped));
        Path file = dir.resolve("checksums.safetensors");
        List<Integer> taken;
        try (SafetensorsWriter out = SafetensorsWriter.open(file, SafetensorsWriter.plan(specs, Map.of()))) {
            out.writeViaFile(out.tensor("odd").segment(), odd.segment());
            MemorySegment region = out.tensor("large").segment();
            long half = region.byteSize() / 2 + 6;
            out.writeViaFile(region.asSlice(half), large.segment().asSlice(half));
            out.write("mapped", mapped);
            out.writeViaFile(region.asSlice(0, half), large.segment().asSlice(0, half));
            out.commit();
            taken = out.blockChecksums();
        }
        try (SafetensorsFile written = SafetensorsFile.open(file)) {
            assertArrayEquals(TestTensors.bytes(large), TestTensors.bytes(written.tensor("large")));
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
