package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Regression, found by the safetensors mutation property: a header may describe an empty tensor whose other sizes
 * multiply past a long ([4, 0, 2^63-1] has 0 elements and 0 bytes, so the header is valid). Reading it threw
 * ArithmeticException from the contiguous-stride computation instead of giving the empty tensor.
 */
class EmptyTensorWithHugeSizesTest {
    @TempDir
    Path dir;

    @Test
    void anEmptyTensorWithHugeSizesReads() throws Exception {
        Path file = CraftedFiles.write(dir.resolve("empty.safetensors"),
                "{\"e\":{\"dtype\":\"I64\",\"shape\":[4,0,9223372036854775807],\"data_offsets\":[0,0]},"
                        + "\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Tensor e = f.tensor("e");
            assertArrayEquals(new long[] {4, 0, Long.MAX_VALUE}, e.sizes());
            assertEquals(0, e.numel());
            assertEquals(0, e.segment().byteSize());
        }
    }

    @Test
    void anEmptyTensorWithHugeSizesCanBeAllocated() {
        Tensor t = Tensor.allocate(DType.F32, Long.MAX_VALUE, 3, 0);
        assertEquals(0, t.numel());
        assertEquals(0, t.contiguousCopy().numel());
    }
}
