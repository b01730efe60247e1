package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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

/** Early write-back of finished tensors changes nothing in what is written, committed or cleaned up. */
class WriteBackTest {
    @TempDir
    Path dir;

    private final Tensor a = TestTensors.random(DType.BF16, 1, 300, 7);
    private final Tensor b = TestTensors.random(DType.F32, 2, 100, 9);
    private final ShardLayout layout = ShardLayout.of(List.of(TensorSpec.of("a", a), TensorSpec.of("b", b)), a.byteSize());

    @Test
    void tensorsWrittenBackBeforeTheCommitAreCommittedWhole() {
        try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(dir, layout, Map.of())) {
            out.tensor("a").copyFrom(a); // through the mapping
            out.startWriteBack(out.tensor("a").segment());
            out.writeViaFile(out.tensor("b").segment(), b.segment()); // through the file
            out.startWriteBack(out.tensor("b").segment().asSlice(0, 64));
            out.startWriteBack(out.tensor("b").segment());
            // Regions of both shards at once: one span in each.
            out.startWriteBack(List.of(out.tensor("b").segment().asSlice(8, 16), out.tensor("a").segment().asSlice(2, 4),
                    out.tensor("a").segment().asSlice(100, 50)));
            out.commit();
        }
        try (Checkpoint written = Checkpoint.open(dir)) {
            assertArrayEquals(TestTensors.bytes(a), TestTensors.bytes(written.tensor("a")));
            assertArrayEquals(TestTensors.bytes(b), TestTensors.bytes(written.tensor("b")));
        }
    }

    @Test
    void aRegionOfNoShardIsRefusedAndAnAbandonedWriterLeavesNothing() throws IOException {
        try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(dir, layout, Map.of())) {
            out.tensor("a").copyFrom(a);
            out.startWriteBack(out.tensor("a").segment());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> out.startWriteBack(MemorySegment.ofArray(new byte[16])));
            assertEquals(true, e.getMessage().contains("none of the 2 shards"), e.getMessage());
        } // closed without a commit while a write-back may still run
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(), left.toList());
        }
    }
}
