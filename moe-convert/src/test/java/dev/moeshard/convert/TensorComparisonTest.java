package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import org.junit.jupiter.api.Test;

class TensorComparisonTest {

    @Test
    void aTransposedViewOverSeveralChunksFindsTheFirstDifferentElement() {
        // [3000, 1024] F32 is 12 MiB: the strided side is laid out in three chunks.
        Tensor stored = Tensor.allocate(DType.F32, 1024, 3000);
        for (long i = 0; i < 1024; i += 7) {
            for (long j = 0; j < 3000; j += 5) {
                stored.setDouble(i * 3000 + j, i, j);
            }
        }
        Tensor view = stored.t();
        Tensor copy = view.contiguousCopy();
        TensorComparison comparison = new TensorComparison(CopyEngine.shared());
        assertEquals(-1, comparison.firstDifference(copy, view));
        copy.setDouble(-1, 2900, 21);
        assertEquals(2900L * 1024 + 21, comparison.firstDifference(copy, view));
        assertArrayEquals(new long[] {2900, 21}, TensorComparison.unravel(2900L * 1024 + 21, copy.sizes()));
        copy.setDouble(-1, 1000, 1);
        assertEquals(1000L * 1024 + 1, comparison.firstDifference(copy, view));
    }
}
