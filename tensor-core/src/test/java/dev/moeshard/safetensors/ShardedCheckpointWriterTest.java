package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("no-flags")
class ShardedCheckpointWriterTest {
    @TempDir
    Path dir;

    private List<String> filesInDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static List<TensorSpec> u8(long... sizes) {
        List<TensorSpec> specs = new ArrayList<>();
        for (int i = 0; i < sizes.length; i++) {
            specs.add(new TensorSpec("t" + i, DType.U8, new long[] {sizes[i]}));
        }
        return specs;
    }

    private static List<List<String>> names(ShardLayout layout) {
        return layout.shards().stream().map(s -> s.specs().stream().map(TensorSpec::name).toList()).toList();
    }

    // ------------------------------------------------------------------------------------------------ layout

    @Test
    void tensorsAreAssignedInOrderUntilTheNextWouldExceedTheMaximum() {
        ShardLayout layout = ShardLayout.of(u8(10, 10, 10, 25, 5, 0, 20), 20);
        assertEquals(List.of(List.of("t0", "t1"), List.of("t2"), List.of("t3"), List.of("t4", "t5"), List.of("t6")),
                names(layout));
        assertEquals(List.of(20L, 10L, 25L, 5L, 20L), layout.shards().stream().map(ShardLayout.Shard::dataSize).toList());
        assertEquals("model-00001-of-00005.safetensors", layout.shards().getFirst().fileName());
        assertEquals("model-00005-of-00005.safetensors", layout.shards().getLast().fileName());
        assertEquals(80, layout.totalSize());
        assertTrue(layout.isSharded());
    }

    @Test
    void everythingWithinTheMaximumIsOneFileNamedModelSafetensors() {
        ShardLayout layout = ShardLayout.of(u8(10, 10), 20);
        assertEquals(1, layout.shards().size());
        assertEquals("model.safetensors", layout.shards().getFirst().fileName());
        assertFalse(layout.isSharded());
        assertEquals("model.safetensors", ShardLayout.of(List.of(), 20).shards().getFirst().fileName());
    }

    @Test
    void layoutRefusesANonPositiveMaximumAndDuplicateNames() {
        assertThrows(IllegalArgumentException.class, () -> ShardLayout.of(u8(1), 0));
        List<TensorSpec> dup = List.of(new TensorSpec("x", DType.U8, new long[] {1}), new TensorSpec("x", DType.U8, new long[] {1}));
        assertThrows(IllegalArgumentException.class, () -> ShardLayout.of(dup, 10));
    }

    // ------------------------------------------------------------------------------------------------ writing

    @Test
    void everyDtypeSurvivesAShardedWriteAndRead() throws IOException {
        Map<String, Tensor> tensors = TestTensors.everyDtype();
        List<TensorSpec> specs = new ArrayList<>();
        tensors.forEach((n, t) -> specs.add(TensorSpec.of(n, t)));
        ShardLayout layout = ShardLayout.of(specs, 100);
        assertTrue(layout.shards().size() >= 4, "shards: " + layout.shards().size());
        Map<String, String> metadata = Map.of("format", "pt");

        try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(dir, layout, metadata)) {
            tensors.forEach((n, t) -> {
                if (t.dtype().isByteAligned()) {
                    out.write(n, t);
                } else {
                    // The provisional copy engine cannot copy F4/F6 tensors yet; a byte copy does the same.
                    out.tensor(n).segment().copyFrom(t.segment());
                }
            });
            out.commit();
        }

        int n = layout.shards().size();
        List<String> expectedFiles = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            expectedFiles.add(String.format("model-%05d-of-%05d.safetensors", i, n));
        }
        expectedFiles.add(SafetensorsIndex.FILE_NAME);
        assertEquals(expectedFiles.stream().sorted().toList(), filesInDir());

        // The index, parsed independently.
        JsonNode index = new ObjectMapper().readTree(dir.resolve(SafetensorsIndex.FILE_NAME).toFile());
        long total = tensors.values().stream().mapToLong(Tensor::byteSize).sum();
        assertEquals(total, index.get("metadata").get("total_size").asLong());
        List<String> mapKeys = new ArrayList<>();
        index.get("weight_map").fieldNames().forEachRemaining(mapKeys::add);
        assertEquals(tensors.keySet().stream().sorted().toList(), mapKeys);
        for (String key : mapKeys) {
            Path shard = dir.resolve(index.get("weight_map").get(key).asText());
            assertTrue(SafetensorsHeader.read(shard).contains(key), key);
        }

        try (Checkpoint cp = Checkpoint.open(dir)) {
            assertEquals(List.copyOf(tensors.keySet()), cp.keys());
            assertEquals(metadata, cp.metadata());
            for (Path shard : cp.files()) {
                assertEquals(metadata, SafetensorsHeader.read(shard).metadata());
            }
            tensors.forEach((name, t) -> {
                Tensor back = cp.tensor(name);
                assertEquals(t.dtype(), back.dtype(), name);
                assertArrayEquals(t.sizes(), back.sizes(), name);
                assertArrayEquals(TestTensors.bytes(t), TestTensors.bytes(back), name);
            });
        }
    }

    @Test
    void convenienceWriteOfOneShardHasNoIndexAndRemovesAStaleOne() throws IOException {
        Files.writeString(dir.resolve(SafetensorsIndex.FILE_NAME), "{\"weight_map\": {}}");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("w", TestTensors.random(DType.BF16, 1, 4, 4));
        tensors.put("b", TestTensors.random(DType.BF16, 2, 4));
        ShardedCheckpointWriter.write(dir, tensors, ByteSize.parse("5GB"), Map.of());
        assertEquals(List.of("model.safetensors"), filesInDir());
        try (Checkpoint cp = Checkpoint.open(dir)) {
            assertEquals(List.of("w", "b"), cp.keys());
            assertArrayEquals(TestTensors.bytes(tensors.get("w")), TestTensors.bytes(cp.tensor("w")));
        }
    }

    @Test
    void anOversizedTensorGetsAShardOfItsOwn() throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("small0", TestTensors.random(DType.U8, 1, 8));
        tensors.put("huge", TestTensors.random(DType.F32, 2, 16));
        tensors.put("small1", TestTensors.random(DType.U8, 3, 8));
        ShardedCheckpointWriter.write(dir, tensors, 32, Map.of());
        try (Checkpoint cp = Checkpoint.open(dir)) {
            assertEquals(dir.resolve("model-00002-of-00003.safetensors"), cp.fileOf("huge"));
            assertEquals(List.of("huge"), cp.headers().get(1).keys());
            assertEquals(List.of("small0", "huge", "small1"), cp.keys());
        }
    }

    @Test
    void aMissingTensorCommitsNoShardAndLeavesNothing() throws IOException {
        ShardLayout layout = ShardLayout.of(u8(4, 4, 4), 4);
        try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(dir, layout, Map.of())) {
            out.write("t0", TestTensors.random(DType.U8, 1, 4));
            out.write("t2", TestTensors.random(DType.U8, 1, 4));
            IllegalStateException e = assertThrows(IllegalStateException.class, out::commit);
            CraftedFiles.assertMentions(e.getMessage(), "model-00002-of-00003.safetensors", "t1");
            assertThrows(IllegalArgumentException.class, () -> out.tensor("t9"));
        }
        assertEquals(List.of(), filesInDir());
    }
}
