package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("no-flags")
class TensorSplitTest {
    @TempDir
    Path dir;

    private static final TensorSpec BEFORE = new TensorSpec("before", DType.BF16, new long[] {3, 5});
    private static final TensorSpec ROWS = new TensorSpec("w.rows", DType.BF16, new long[] {2, 4, 6});
    private static final TensorSpec EXTRA_A = new TensorSpec("w.extra.a", DType.BF16, new long[] {2, 6});
    private static final TensorSpec EXTRA_B = new TensorSpec("w.extra.b", DType.BF16, new long[] {2, 6});
    private static final TensorSpec AFTER = new TensorSpec("after", DType.F32, new long[] {7});
    private static final TensorSplit WHOLE = new TensorSplit(new TensorSpec("w", DType.BF16, new long[] {3, 4, 6}),
            List.of(ROWS, EXTRA_A, EXTRA_B));

    private Map<String, Tensor> write(long maxShardBytes) {
        List<TensorSpec> specs = List.of(BEFORE, ROWS, EXTRA_A, EXTRA_B, AFTER);
        Map<String, Tensor> sources = new java.util.LinkedHashMap<>();
        long seed = 1;
        for (TensorSpec s : specs) {
            sources.put(s.name(), TestTensors.random(s.dtype(), seed++, s.shape()));
        }
        ShardLayout layout = ShardLayout.of(specs, maxShardBytes, List.of(WHOLE));
        try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(dir, layout, Map.of())) {
            sources.forEach(out::write);
            out.commit();
        }
        return sources;
    }

    @Test
    void theHeaderNamesTheWholeWhoseBytesAreThePartsOneAfterAnother() {
        Map<String, Tensor> parts = write(1 << 20);
        try (Checkpoint read = Checkpoint.open(dir)) {
            assertEquals(List.of("before", "w", "after"), read.keys());
            assertArrayEquals(new long[] {3, 4, 6}, read.entry("w").shape());
            byte[] whole = TestTensors.bytes(read.tensor("w"));
            byte[] expected = concat(TestTensors.bytes(parts.get("w.rows")), TestTensors.bytes(parts.get("w.extra.a")),
                    TestTensors.bytes(parts.get("w.extra.b")));
            assertArrayEquals(expected, whole);
            assertArrayEquals(TestTensors.bytes(parts.get("after")), TestTensors.bytes(read.tensor("after")));
        }
    }

    @Test
    void splittingTheReadCheckpointHandsOutEachPartByteForByte() {
        Map<String, Tensor> parts = write(1 << 20);
        try (Checkpoint read = Checkpoint.open(dir); Checkpoint split = read.split(List.of(WHOLE))) {
            assertEquals(List.of("before", "w.rows", "w.extra.a", "w.extra.b", "after"), split.keys());
            for (String key : split.keys()) {
                assertArrayEquals(TestTensors.bytes(parts.get(key)), TestTensors.bytes(split.tensor(key)), key);
            }
            assertArrayEquals(new long[] {2, 6}, split.entry("w.extra.b").shape());
        }
    }

    @Test
    void thePartsOfASplitStayInOneShardAndTheIndexListsTheWhole() {
        // 30 bytes of "before", 144 of the split, 28 of "after": with 60 a shard, the split takes one of its own.
        ShardLayout layout = ShardLayout.of(List.of(BEFORE, ROWS, EXTRA_A, EXTRA_B, AFTER), 60, List.of(WHOLE));
        assertEquals(3, layout.shards().size());
        assertEquals(List.of("w"), layout.shards().get(1).headerNames());
        assertEquals(List.of(WHOLE), layout.shards().get(1).splits());
        assertEquals(Map.of("before", layout.shards().get(0).fileName(), "w", layout.shards().get(1).fileName(),
                "after", layout.shards().get(2).fileName()), layout.weightMap());
        write(60);
        try (Checkpoint read = Checkpoint.open(dir)) {
            assertEquals(List.of("before", "w", "after"), read.keys());
        }
    }

    @Test
    void theWholeMayBearTheNameOfThePartItExtends() {
        TensorSplit extended = new TensorSplit(new TensorSpec("w.rows", DType.BF16, new long[] {3, 4, 6}),
                List.of(ROWS, EXTRA_A, EXTRA_B));
        List<TensorSpec> specs = List.of(BEFORE, ROWS, EXTRA_A, EXTRA_B);
        try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(dir,
                ShardLayout.of(specs, 1 << 20, List.of(extended)), Map.of())) {
            specs.forEach(s -> out.write(s.name(), TestTensors.random(s.dtype(), 3, s.shape())));
            out.commit();
        }
        try (Checkpoint read = Checkpoint.open(dir); Checkpoint split = read.split(List.of(extended))) {
            assertEquals(List.of("before", "w.rows"), read.keys());
            assertArrayEquals(new long[] {3, 4, 6}, read.entry("w.rows").shape());
            assertEquals(List.of("before", "w.rows", "w.extra.a", "w.extra.b"), split.keys());
            assertArrayEquals(new long[] {2, 4, 6}, split.entry("w.rows").shape());
        }
    }

    @Test
    void partsThatDoNotFollowEachOtherAreRefusedNamingTheWhole() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> ShardLayout.of(List.of(ROWS, BEFORE, EXTRA_A, EXTRA_B), 1 << 20, List.of(WHOLE)));
        assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("w.extra.a"), e.getMessage());
    }

    @Test
    void partsOfAnotherDtypeOrSizeThanTheWholeAreRefused() {
        var dtype = assertThrows(IllegalArgumentException.class, () -> new TensorSplit(WHOLE.whole(),
                List.of(ROWS, EXTRA_A, new TensorSpec("w.extra.b", DType.F16, new long[] {2, 6}))));
        assertTrue(dtype.getMessage().contains("F16"), dtype.getMessage());
        var size = assertThrows(IllegalArgumentException.class,
                () -> new TensorSplit(WHOLE.whole(), List.of(ROWS, EXTRA_A)));
        assertTrue(size.getMessage().contains("144"), size.getMessage());
    }

    @Test
    void splittingATensorOfAnotherShapeIsRefusedNamingFileAndKey() {
        write(1 << 20);
        TensorSplit other = new TensorSplit(new TensorSpec("w", DType.BF16, new long[] {4, 3, 6}),
                List.of(ROWS, EXTRA_A, EXTRA_B));
        try (Checkpoint read = Checkpoint.open(dir)) {
            var e = assertThrows(SafetensorsFormatException.class, () -> read.split(List.of(other)));
            assertTrue(e.getMessage().contains("model.safetensors") && e.getMessage().contains("[3, 4, 6]"),
                    e.getMessage());
        }
    }

    private static byte[] concat(byte[]... parts) {
        byte[] out = new byte[Arrays.stream(parts).mapToInt(p -> p.length).sum()];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
