package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardLayout;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bytes built in the buffer and written to the file must be those a copy through the mapping would leave. */
class StagedWritesTest {
    private static final CopyEngine ENGINE = CopyEngine.create(true, 2);

    @TempDir
    Path dir;

    @Test
    void aTransposedSourceCopiedInManySmallChunksLandsWholeAndConverted() {
        Tensor source = pattern(DType.BF16, 37, 61, 1).t(); // [61, 37], strided
        Tensor expected = Tensor.allocate(DType.F32, 61, 37).copyFrom(source);
        Tensor tail = pattern(DType.U8, 1001, 1, 2);
        List<TensorSpec> specs = List.of(new TensorSpec("w", DType.F32, new long[] {61, 37}), TensorSpec.of("tail", tail));
        try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(dir, ShardLayout.of(specs, Long.MAX_VALUE),
                Map.of()); StagedWrites writes = new StagedWrites(ENGINE, out, 3 * 37 * 4 + 5)) {
            writes.copy(out.tensor("w"), source); // 3 rows a chunk, 21 chunks, the last one row
            writes.copy(out.tensor("tail"), tail);
            out.commit();
        }
        try (Checkpoint written = Checkpoint.open(dir)) {
            assertEquals(-1, written.tensor("w").segment().mismatch(expected.segment()));
            assertEquals(-1, written.tensor("tail").segment().mismatch(tail.segment()));
        }
    }

    @Test
    void aLayerWithOneSlotFilledBeforehandKeepsItAndGetsEveryOtherSlot() {
        long e = 3;
        long h = 40;
        long i = 24;
        List<TensorSpec> specs = List.of(new TensorSpec("gate_and_up", DType.BF16, new long[] {e, h, 2 * i}),
                new TensorSpec("down", DType.BF16, new long[] {e, i, h}));
        Tensor expectedGateAndUp = Tensor.allocate(DType.BF16, e, h, 2 * i);
        Tensor expectedDown = Tensor.allocate(DType.BF16, e, i, h);
        try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(dir, ShardLayout.of(specs, Long.MAX_VALUE),
                Map.of()); StagedWrites writes = new StagedWrites(ENGINE, out, 1)) {
            Tensor gateAndUp = out.tensor("gate_and_up");
            Tensor down = out.tensor("down");
            List<Tensor> targets = new ArrayList<>();
            List<Tensor> sources = new ArrayList<>();
            for (long x = 0; x < e; x++) {
                Tensor gate = pattern(DType.BF16, i, h, 10 * x);
                Tensor up = pattern(DType.BF16, i, h, 10 * x + 1);
                Tensor dn = pattern(DType.BF16, h, i, 10 * x + 2);
                expectedGateAndUp.select(0, x).narrow(1, 0, i).t().copyFrom(gate);
                expectedGateAndUp.select(0, x).narrow(1, i, i).t().copyFrom(up);
                expectedDown.select(0, x).t().copyFrom(dn);
                Tensor gateSlot = gateAndUp.select(0, x).narrow(1, 0, i).t();
                if (x == 1) { // filled through the mapping before the layer's copies, as an FP8 weight is
                    gateSlot.copyFrom(gate);
                } else {
                    targets.add(gateSlot);
                    sources.add(gate);
                }
                targets.add(gateAndUp.select(0, x).narrow(1, i, i).t());
                sources.add(up);
                targets.add(down.select(0, x).t());
                sources.add(dn);
            }
            writes.copyLayer(targets, sources, List.of(gateAndUp, down));
            out.commit();
        }
        try (Checkpoint written = Checkpoint.open(dir)) {
            assertEquals(-1, written.tensor("gate_and_up").segment().mismatch(expectedGateAndUp.segment()));
            assertEquals(-1, written.tensor("down").segment().mismatch(expectedDown.segment()));
        }
    }

    private static Tensor pattern(DType dtype, long rows, long cols, long seed) {
        Tensor t = Tensor.allocate(dtype, rows, cols);
        for (long b = 0; b < t.byteSize(); b++) {
            t.segment().set(ValueLayout.JAVA_BYTE, b, (byte) (b * 31 + seed * 7 + b / 251));
        }
        return t;
    }
}
