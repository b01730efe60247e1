package dev.moeshard.safetensors;

import static dev.moeshard.safetensors.CraftedFiles.assertMentions;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A crafted index or shard set for every way a sharded checkpoint can be inconsistent. */
class IndexValidationTest {
    private static final String A = "model-00001-of-00002.safetensors";
    private static final String B = "model-00002-of-00002.safetensors";

    @TempDir
    Path dir;

    private Path index;

    @BeforeEach
    void twoShards() {
        index = dir.resolve(SafetensorsIndex.FILE_NAME);
        shard(A, "a", "b");
        shard(B, "c");
    }

    private void shard(String name, String... keys) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (String k : keys) {
            tensors.put(k, TestTensors.random(DType.U8, k.hashCode(), 4));
        }
        SafetensorsWriter.write(dir.resolve(name), tensors, Map.of("format", "pt"));
    }

    private void index(String weightMap) throws IOException {
        Files.writeString(index, "{\"metadata\": {\"total_size\": 12}, \"weight_map\": {" + weightMap + "}}");
    }

    private static String maps(String key, String shard) {
        return "\"" + key + "\": \"" + shard.replace("\\", "\\\\") + "\"";
    }

    private String ok() {
        return maps("a", A) + ", " + maps("b", A) + ", " + maps("c", B);
    }

    private void assertRejected(String key, String... fragments) {
        SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> Checkpoint.open(dir).close());
        CraftedFiles.check(e, index, key);
        assertMentions(e.getMessage(), fragments);
    }

    @Test
    void consistentIndexIsAccepted() throws IOException {
        index(ok());
        try (Checkpoint cp = Checkpoint.open(dir)) {
            assertEquals(List.of("a", "b", "c"), cp.keys());
            assertEquals(dir.resolve(B), cp.fileOf("c"));
            assertEquals(12, cp.index().orElseThrow().totalSize().orElseThrow());
            assertEquals(List.of(A, B), cp.index().orElseThrow().shardNames());
        }
    }

    @Test
    void shardNameWithASlash() throws IOException {
        index(maps("a", "sub/" + A) + ", " + maps("b", A) + ", " + maps("c", B));
        assertRejected("a", "sub/" + A, "path separator");
    }

    @Test
    void shardNameWithABackslash() throws IOException {
        index(maps("a", A) + ", " + maps("b", "sub\\" + A) + ", " + maps("c", B));
        assertRejected("b", "path separator");
    }

    @Test
    void shardNameGoingUp() throws IOException {
        index(maps("a", A) + ", " + maps("b", A) + ", " + maps("c", "..\\" + B));
        assertRejected("c", "plain file name");
        index(maps("a", A) + ", " + maps("b", A) + ", " + maps("c", ".."));
        assertRejected("c", "'..'");
    }

    @Test
    void absoluteShardName() throws IOException {
        index(maps("a", A) + ", " + maps("b", A) + ", " + maps("c", dir.resolve(B).toAbsolutePath().toString()));
        assertRejected("c", "plain file name");
    }

    @Test
    void missingShard() throws IOException {
        index(ok() + ", " + maps("d", "model-00003-of-00003.safetensors"));
        assertRejected("d", "model-00003-of-00003.safetensors", "does not exist");
    }

    @Test
    void keyMappedToAShardThatDoesNotHoldIt() throws IOException {
        index(maps("a", A) + ", " + maps("b", B) + ", " + maps("c", B));
        assertRejected("b", B, "does not hold it");
    }

    @Test
    void sameKeyInTwoShards() throws IOException {
        shard(B, "c", "b");
        index(ok());
        assertRejected("b", "two shards", A, B);
    }

    @Test
    void keyInAShardThatTheIndexDoesNotList() throws IOException {
        index(maps("a", A) + ", " + maps("c", B));
        assertRejected("b", A, "does not list it");
    }

    @Test
    void duplicateKeyInTheIndex() throws IOException {
        index(ok() + ", " + maps("a", B));
        assertRejected("weight_map", "Duplicate", "'a'");
    }

    @Test
    void shardNameNotAString() throws IOException {
        index(ok() + ", \"d\": 2");
        assertRejected("d", "must be a string");
    }

    @Test
    void weightMapMissing() throws IOException {
        Files.writeString(index, "{\"metadata\": {}}");
        assertRejected("weight_map", "missing");
    }

    @Test
    void totalSizeNotAnInteger() throws IOException {
        Files.writeString(index, "{\"metadata\": {\"total_size\": \"12\"}, \"weight_map\": {" + ok() + "}}");
        assertRejected("metadata", "total_size");
    }

    @Test
    void unexpectedTopLevelMember() throws IOException {
        Files.writeString(index, "{\"weight_map\": {" + ok() + "}, \"shards\": 2}");
        assertRejected("shards", "unexpected");
    }

    @Test
    void indexNotJson() throws IOException {
        Files.writeString(index, "{\"weight_map\": {" + ok() + "}} x");
        assertRejected(null, "not valid JSON");
        // Truncated inside weight_map: the error says where it stopped.
        Files.writeString(index, "{\"weight_map\": {" + ok() + "}");
        assertRejected("weight_map", "not valid JSON");
    }

    // ------------------------------------------------------------------------------------------------ no index

    @Test
    void withoutAnIndexTheFilesAreJoined() {
        try (Checkpoint cp = Checkpoint.open(dir)) {
            assertEquals(List.of("a", "b", "c"), cp.keys());
            assertEquals(dir.resolve(A), cp.fileOf("b"));
            assertEquals(List.of(dir.resolve(A), dir.resolve(B)), cp.files());
        }
    }

    @Test
    void withoutAnIndexAKeyInTwoFilesIsRefused() {
        shard(B, "c", "a");
        SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> Checkpoint.open(dir));
        CraftedFiles.check(e, dir.resolve(B), "a");
        assertMentions(e.getMessage(), A);
    }

    @Test
    void directoryWithNoCheckpoint(@TempDir Path empty) {
        SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> Checkpoint.open(empty));
        CraftedFiles.check(e, empty, null);
        assertMentions(e.getMessage(), "no " + SafetensorsIndex.FILE_NAME);
    }

    @Test
    void anInvalidShardIsNamed() throws IOException {
        index(ok());
        Files.write(dir.resolve(B), new byte[] {1, 2, 3});
        SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> Checkpoint.open(dir));
        CraftedFiles.check(e, dir.resolve(B), null);
    }

    @Test
    void missingKeyIsNamedWithTheIndex() throws IOException {
        index(ok());
        try (Checkpoint cp = Checkpoint.open(dir)) {
            SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> cp.tensor("z"));
            CraftedFiles.check(e, index, "z");
        }
    }
}
