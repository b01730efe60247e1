package dev.moeshard.tensor.copy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** copyAll shares whole pairs among threads; the bytes must be those of copying each pair on its own. */
class CopyAllTest {

    @ParameterizedTest(name = "simd={0} threads={1} threshold={2}")
    @CsvSource({"false, 1, 0", "false, 3, 0", "true, 2, 0", "true, 4, 1048576"})
    void aLayerOfExpertsMergedByCopyAllEqualsOneCopyAtATime(boolean simd, int threads, long threshold) {
        CopyEngine engine = CopyEngine.create(simd, threads, threshold);
        SplittableRandom random = new SplittableRandom(threads * 31L + (simd ? 1 : 0));
        for (DType dtype : new DType[] {DType.U8, DType.BF16, DType.F32}) {
            int experts = 1 + random.nextInt(9);
            long h = 1 + random.nextInt(200);
            long i = 1 + random.nextInt(90);
            Tensor grouped = Tensor.allocate(dtype, experts, h, 2 * i);
            Tensor expected = Tensor.allocate(dtype, experts, h, 2 * i);
            List<Tensor> dsts = new ArrayList<>();
            List<Tensor> srcs = new ArrayList<>();
            for (int e = 0; e < experts; e++) {
                // Pairs of different sizes, so that the shares are uneven.
                long width = e % 2 == 0 ? i : Math.max(1, i / 2);
                Tensor gate = random(dtype, random, width, h);
                dsts.add(grouped.select(0, e).narrow(1, 0, width));
                srcs.add(gate.t());
                expected.select(0, e).narrow(1, 0, width).copyFrom(gate.t());
            }
            engine.copyAll(dsts, srcs);
            assertEquals(-1, expected.segment().mismatch(grouped.segment()), dtype + " x " + experts);
        }
    }

    @Test
    void listsOfDifferentLengthsAreRefused() {
        Tensor t = Tensor.allocate(DType.F32, 2);
        assertThrows(IllegalArgumentException.class,
                () -> CopyEngine.create(false, 2).copyAll(List.of(t, t), List.of(t)));
    }

    private static Tensor random(DType dtype, SplittableRandom random, long... sizes) {
        Tensor t = Tensor.allocate(dtype, sizes);
        MemorySegment s = t.segment();
        for (long b = 0; b < s.byteSize(); b++) {
            s.set(ValueLayout.JAVA_BYTE, b, (byte) random.nextInt());
        }
        return t;
    }
}
