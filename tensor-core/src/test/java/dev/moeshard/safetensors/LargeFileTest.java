package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Files over 2 GiB, where a {@code MappedByteBuffer} or an {@code int} offset would fail. The writer sizes its file
 * sparsely and only two pages are touched, so this costs milliseconds on file systems with sparse files.
 */
class LargeFileTest {
    private static final long THREE_GIB = 3L << 30;

    @TempDir
    Path dir;

    @Test
    void writeAndReadATensorPastTwoGibibytes() {
        Path file = dir.resolve("large.safetensors");
        var plan = SafetensorsWriter.plan(List.of(new TensorSpec("head", DType.U8, new long[] {8}),
                new TensorSpec("big", DType.U8, new long[] {THREE_GIB})), Map.of());
        try (var out = SafetensorsWriter.open(file, plan)) {
            out.write("head", TestTensors.random(DType.U8, 1, 8));
            MemorySegment big = out.tensor("big").segment();
            big.set(ValueLayout.JAVA_BYTE, 0, (byte) 7);
            big.set(ValueLayout.JAVA_BYTE, THREE_GIB - 1, (byte) 42);
            out.commit();
        }
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertEquals(8 + st.header().headerLength() + 8 + THREE_GIB, st.header().fileSize());
            Tensor big = st.tensor("big");
            assertEquals(THREE_GIB, big.numel());
            assertEquals(8, st.entry("big").begin());
            assertEquals(7, big.segment().get(ValueLayout.JAVA_BYTE, 0));
            assertEquals(42, big.segment().get(ValueLayout.JAVA_BYTE, THREE_GIB - 1));
            assertEquals(42, big.getBits(THREE_GIB - 1));
        }
    }
}
