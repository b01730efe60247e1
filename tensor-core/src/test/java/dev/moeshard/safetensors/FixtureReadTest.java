package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Reads the checkpoints HuggingFace transformers wrote and compares with an independent parse of the same bytes. */
@Tag("no-flags")
class FixtureReadTest {

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe", "gpt_oss", "deepseek_v3/model-00001-of-00002.safetensors",
            "deepseek_v3/model-00002-of-00002.safetensors"})
    void singleFileMatchesItsHeaderAndBytes(String name) throws IOException {
        Path file = name.endsWith(".safetensors") ? Fixtures.dir(name) : Fixtures.dir(name).resolve("model.safetensors");
        Fixtures.RawFile raw = Fixtures.RawFile.read(file);
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertEquals(file, st.path());
            assertEquals(Map.of("format", "pt"), st.metadata());
            assertEquals(expectedKeys(raw.header()), st.keys());
            assertSameEntries(raw, st.keys(), st::entry);
            for (String key : sample(st.keys())) {
                Tensor t = st.tensor(key);
                assertTrue(t.isContiguous());
                assertArrayEquals(raw.tensorBytes(key), t.segment().toArray(ValueLayout.JAVA_BYTE), key);
            }
        }
        SafetensorsHeader header = SafetensorsHeader.read(file);
        assertEquals(expectedKeys(raw.header()), header.keys());
        assertEquals(raw.headerLength(), header.headerLength());
        assertEquals(raw.bytes().length, header.fileSize());
    }

    @Test
    void qwenExpertWeightHasItsKnownShape() {
        try (SafetensorsFile st = SafetensorsFile.open(Fixtures.dir("qwen3_moe").resolve("model.safetensors"))) {
            String key = "model.layers.0.mlp.experts.0.gate_proj.weight";
            assertTrue(st.contains(key));
            assertFalse(st.contains("model.layers.0.mlp.experts.8.gate_proj.weight"));
            TensorEntry e = st.entry(key);
            assertEquals(DType.BF16, e.dtype());
            assertArrayEquals(new long[] {32, 64}, e.shape());
            Tensor t = st.tensor(key);
            assertArrayEquals(new long[] {32, 64}, t.sizes());
            // One element decoded by hand from the raw little-endian BF16 bits.
            short bits = t.segment().get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN),
                    (long) (3 * 64 + 5) * 2);
            assertEquals(Float.intBitsToFloat((bits & 0xffff) << 16), t.getDouble(3, 5), 0.0);
        }
    }

    @Test
    void gptOssGroupedExpertsAreReadAsOneTensor() {
        try (Checkpoint cp = Checkpoint.open(Fixtures.dir("gpt_oss"))) {
            assertTrue(cp.index().isEmpty());
            assertEquals(List.of(Fixtures.dir("gpt_oss").resolve("model.safetensors")), cp.files());
            TensorEntry down = cp.entry("model.layers.0.mlp.experts.down_proj");
            assertArrayEquals(new long[] {8, 32, 64}, down.shape());
            assertArrayEquals(new long[] {8, 32, 64}, cp.tensor("model.layers.0.mlp.experts.down_proj").sizes());
        }
    }

    @Test
    void shardedDeepseekReadsThroughItsIndex() throws IOException {
        Path dir = Fixtures.dir("deepseek_v3");
        JsonNode index = new ObjectMapper().readTree(dir.resolve(SafetensorsIndex.FILE_NAME).toFile());
        JsonNode weightMap = index.get("weight_map");
        try (Checkpoint cp = Checkpoint.open(dir)) {
            SafetensorsIndex idx = cp.index().orElseThrow();
            assertEquals(index.get("metadata").get("total_size").asLong(), idx.totalSize().orElseThrow());
            assertEquals(2, cp.files().size());

            List<String> indexKeys = new ArrayList<>();
            weightMap.fieldNames().forEachRemaining(indexKeys::add);
            assertEquals(new HashSet<>(indexKeys), new HashSet<>(cp.keys()));
            assertEquals(indexKeys.size(), cp.keys().size());

            long total = 0;
            for (Path shard : cp.files()) {
                Fixtures.RawFile raw = Fixtures.RawFile.read(shard);
                List<String> keys = expectedKeys(raw.header());
                assertSameEntries(raw, keys, cp::entry);
                for (String key : keys) {
                    assertEquals(weightMap.get(key).asText(), cp.fileOf(key).getFileName().toString(), key);
                    total += cp.entry(key).byteSize();
                }
                for (String key : sample(keys)) {
                    assertArrayEquals(raw.tensorBytes(key), cp.tensor(key).segment().toArray(ValueLayout.JAVA_BYTE), key);
                }
            }
            assertEquals(idx.totalSize().orElseThrow(), total);
            assertEquals(Map.of("format", "pt"), cp.metadata());
        }
    }

    @Test
    void singleFileCheckpointAndDirectoryWithoutIndexAgree() {
        Path dir = Fixtures.dir("qwen3_moe");
        try (Checkpoint byDir = Checkpoint.open(dir); Checkpoint byFile = Checkpoint.open(dir.resolve("model.safetensors"))) {
            assertEquals(byFile.keys(), byDir.keys());
            String key = "model.layers.1.mlp.experts.7.down_proj.weight";
            assertEquals(byFile.entry(key), byDir.entry(key));
            assertEquals(-1L, byFile.tensor(key).segment().mismatch(byDir.tensor(key).segment()), "first differing byte");
        }
    }

    private static List<String> expectedKeys(JsonNode header) {
        List<String> keys = new ArrayList<>();
        header.fieldNames().forEachRemaining(k -> {
            if (!k.equals("__metadata__")) {
                keys.add(k);
            }
        });
        return keys;
    }

    private static void assertSameEntries(Fixtures.RawFile raw, List<String> keys,
            java.util.function.Function<String, TensorEntry> entries) {
        for (String key : keys) {
            JsonNode json = raw.header().get(key);
            TensorEntry e = entries.apply(key);
            assertEquals(key, e.name());
            assertEquals(json.get("dtype").asText(), e.dtype().safetensorsName(), key);
            assertArrayEquals(raw.shape(key), e.shape(), key);
            assertEquals(json.get("data_offsets").get(0).asLong(), e.begin(), key);
            assertEquals(json.get("data_offsets").get(1).asLong(), e.end(), key);
        }
    }

    /** First, last and every seventh key: enough tensors to catch an offset error without copying them all. */
    private static List<String> sample(List<String> keys) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < keys.size(); i++) {
            if (i % 7 == 0 || i == keys.size() - 1) {
                out.add(keys.get(i));
            }
        }
        return out;
    }
}
