package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.SafetensorsFormatException;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Inputs built to hurt: odd file types, outputs on top of inputs, huge or malformed numbers. */
class HostileInputTest {

    /** A two-shard copy of the qwen3_moe fixture without an index, so that the folder's *.safetensors are its shards. */
    private static Path shardedWithoutIndex(Path dir) {
        Path in = dir.resolve("in");
        try (Checkpoint c = Checkpoint.open(Fixtures.of("qwen3_moe"))) {
            Map<String, Tensor> all = new LinkedHashMap<>();
            c.keys().forEach(k -> all.put(k, c.tensor(k).contiguousCopy()));
            ShardedCheckpointWriter.write(in, all, 150_000, Map.of("format", "pt"));
        }
        try {
            Files.delete(in.resolve("model.safetensors.index.json"));
            Files.copy(Fixtures.of("qwen3_moe").resolve("config.json"), in.resolve("config.json"));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return in;
    }

    private static void assertRefusedNaming(Path input, Path output, String... words) {
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(input, output)));
        assertTrue(e instanceof SafetensorsFormatException || e instanceof InvalidInputException
                || e instanceof IllegalArgumentException, e.toString());
        for (String word : words) {
            assertTrue(e.getMessage().contains(word), e.getMessage());
        }
        assertFalse(Files.exists(output), "nothing written");
        assertEquals(List.of(), CheckpointFiles.list(output.getParent()).stream()
                .filter(n -> n.startsWith("." + output.getFileName())).toList(), "no staging left");
    }

    @Test
    void aDanglingLinkAmongTheShardsIsRefusedNotSkipped(@TempDir Path dir) throws Exception {
        Path in = shardedWithoutIndex(dir);
        Path shard = in.resolve("model-00002-of-00002.safetensors");
        Files.delete(shard);
        Files.createSymbolicLink(shard, dir.resolve("gone.safetensors"));
        assertRefusedNaming(in, dir.resolve("out"), "model-00002-of-00002.safetensors", "does not exist");
    }

    @Test
    void aLinkLoopAmongTheShardsIsRefused(@TempDir Path dir) throws Exception {
        Path in = shardedWithoutIndex(dir);
        Path loop = in.resolve("loop.safetensors");
        Files.createSymbolicLink(loop, loop);
        assertRefusedNaming(in, dir.resolve("out"), "loop.safetensors", "loop");
    }

    @Test
    void aFifoShardOrInputIsRefusedWithoutBlocking(@TempDir Path dir) throws Exception {
        Path in = shardedWithoutIndex(dir);
        Path fifo = in.resolve("pipe.safetensors");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> assertRefusedNaming(in, dir.resolve("out"),
                "pipe.safetensors", "FIFO"));
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            RuntimeException e = assertThrows(RuntimeException.class, () -> MoeConvert.inspect(fifo));
            assertTrue(e.getMessage().contains("FIFO"), e.getMessage());
        });
    }

    @Test
    void aDirectoryNamedLikeAShardIsRefused(@TempDir Path dir) throws Exception {
        Path in = shardedWithoutIndex(dir);
        Files.createDirectory(in.resolve("extra.safetensors"));
        assertRefusedNaming(in, dir.resolve("out"), "extra.safetensors", "directory");
    }

    @Test
    void anOutputOnTopOfAroundOrInsideTheInputIsAUsageErrorAndTheInputSurvives(@TempDir Path dir) throws Exception {
        Path in = Fixtures.copy("qwen3_moe", dir);
        Map<String, byte[]> before = CheckpointFiles.snapshot(in);
        Path link = dir.resolve("link");
        Files.createSymbolicLink(link, in);
        for (Path output : List.of(in, dir, in.resolve("sub"), link, link.resolve("sub"))) {
            OutputOptions force = OutputOptions.DEFAULTS.withReplaceExisting(true);
            UsageException e = assertThrows(UsageException.class, () -> MoeConvert.toGrouped(
                    ToGroupedRequest.of(in, output).withWriting(force)), output.toString());
            assertTrue(e.getMessage().contains("input"), e.getMessage());
        }
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, grouped));
        assertThrows(UsageException.class, () -> MoeConvert.toHf(ToHfRequest.of(List.of(grouped), grouped)
                .withWriting(OutputOptions.DEFAULTS.withReplaceExisting(true))));
        CheckpointFiles.assertSameFiles(before, CheckpointFiles.snapshot(in));
        assertTrue(Files.exists(grouped.resolve("model.safetensors")));
    }

    @Test
    void aLeadingZeroExpertIdIsRefusedNotMerged(@TempDir Path dir) throws Exception {
        Path in = Fixtures.copy("qwen3_moe", dir);
        String key = "model.layers.0.mlp.experts.1.up_proj.weight";
        try (Checkpoint c = Checkpoint.open(in)) {
            Map<String, Tensor> all = new LinkedHashMap<>();
            c.keys().forEach(k -> all.put(k, c.tensor(k).contiguousCopy()));
            all.put("model.layers.0.mlp.experts.01.up_proj.weight", all.get(key));
            Files.delete(in.resolve("model.safetensors"));
            ShardedCheckpointWriter.write(in, all, Long.MAX_VALUE, Map.of("format", "pt"));
        }
        assertRefusedNaming(in, dir.resolve("out"), "experts.01.up_proj", "leading zero");
    }

    @Test
    void aHugeExpertIdWithoutConfigIsRefusedNotAllocated(@TempDir Path dir) {
        Path in = dir.resolve("in");
        Map<String, Tensor> t = new LinkedHashMap<>();
        for (String p : List.of("gate_proj", "up_proj", "down_proj")) {
            t.put("model.layers.0.mlp.experts.30000000." + p + ".weight", Tensor.allocate(DType.BF16, 4, 4));
        }
        ShardedCheckpointWriter.write(in, t, Long.MAX_VALUE, Map.of("format", "pt"));
        assertRefusedNaming(in, dir.resolve("out"), "30000000", "limit");
    }

    @Test
    void aSparseMultiGigabyteConfigIsRefusedBeforeItIsRead(@TempDir Path dir) throws Exception {
        Path in = Fixtures.copy("qwen3_moe", dir);
        try (RandomAccessFile f = new RandomAccessFile(in.resolve("config.json").toFile(), "rw")) {
            f.setLength(3L << 30);
        }
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> assertRefusedNaming(in, dir.resolve("out"),
                "config.json", "over the limit"));
    }

    @Test
    void expertCountsThatAreNotWholeNumbersInRangeAreRefusedWithTheFieldNamed(@TempDir Path dir) throws Exception {
        for (String bad : List.of("4294967304", "8.9", "-8", "\"8\"")) {
            Path in = Fixtures.copy("qwen3_moe", dir.resolve("case" + bad.hashCode()));
            Path config = in.resolve("config.json");
            Files.writeString(config, Files.readString(config).replaceFirst("\"num_local_experts\": *\\d+",
                    "\"num_local_experts\": " + bad));
            assertRefusedNaming(in, in.resolveSibling("out"), "num_local_experts");
        }
    }

    @Test
    void anInvalidConfigIsInvalidInput(@TempDir Path dir) throws Exception {
        Path in = Fixtures.copy("qwen3_moe", dir);
        Files.writeString(in.resolve("config.json"), "{ \"model_type\": ");
        assertRefusedNaming(in, dir.resolve("out"), "config.json", "not valid JSON");
    }

    @Test
    void anEmptyTensorOfAHugeShapeIsCopiedWithoutAllocating(@TempDir Path dir) throws Exception {
        Path in = Fixtures.copy("qwen3_moe", dir);
        try (Checkpoint c = Checkpoint.open(in)) {
            Map<String, Tensor> all = new LinkedHashMap<>();
            c.keys().forEach(k -> all.put(k, c.tensor(k).contiguousCopy()));
            all.put("model.empty", Tensor.allocate(DType.BF16, 1L << 62, 0));
            Files.delete(in.resolve("model.safetensors"));
            ShardedCheckpointWriter.write(in, all, Long.MAX_VALUE, Map.of("format", "pt"));
        }
        Path out = dir.resolve("out");
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> MoeConvert.toGrouped(ToGroupedRequest.of(in, out)));
        try (Checkpoint c = Checkpoint.open(out)) {
            assertEquals(List.of(1L << 62, 0L), java.util.Arrays.stream(c.entry("model.empty").shape()).boxed().toList());
        }
    }

    @Test
    void anOutputNameNearTheLimitGetsAStagingNameWithinIt(@TempDir Path dir) {
        Path out = dir.resolve("o".repeat(245));
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), out));
        assertTrue(Files.exists(out.resolve("model.safetensors")));
    }

    @Test
    void expertsOfADtypeThatCannotBeConvertedAreInvalidInputBeforeAnythingIsWritten(@TempDir Path dir) throws Exception {
        Path in = Fixtures.copy("qwen3_moe", dir);
        try (Checkpoint c = Checkpoint.open(in)) {
            Map<String, Tensor> all = new LinkedHashMap<>();
            for (String k : c.keys()) {
                Tensor t = c.tensor(k).contiguousCopy();
                all.put(k, k.contains(".experts.") ? Tensor.allocate(DType.I32, t.sizes()) : t);
            }
            Files.delete(in.resolve("model.safetensors"));
            ShardedCheckpointWriter.write(in, all, Long.MAX_VALUE, Map.of("format", "pt"));
        }
        Path out = dir.resolve("out");
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withDtype(DType.BF16)));
        assertTrue(e instanceof InvalidInputException || e instanceof IllegalArgumentException, e.toString());
        assertTrue(e.getMessage().contains("I32"), e.getMessage());
        assertFalse(Files.exists(out));
    }
}
