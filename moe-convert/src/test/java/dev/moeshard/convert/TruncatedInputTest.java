package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An input shard truncated while the conversion runs, after the first layer is written: the job must fail with an
 * I/O error naming the file, in this JVM (no crash), and leave no output and no staging behind.
 */
class TruncatedInputTest {
    private static final SampleCheckpoint MODEL = new SampleCheckpoint(4, 8, 256, 128);

    /** A listener that cuts {@code file} to 4 KiB at the first step it hears. */
    private static ProgressListener truncatingAtFirstStep(Path file, AtomicBoolean cut) {
        return new ProgressListener() {
            @Override
            public void step(String what, long doneBytes, long totalBytes) {
                if (!cut.getAndSet(true)) {
                    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
                        f.setLength(4096);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }
            }

            @Override
            public void message(String text) {}
        };
    }

    private static Path lastShard(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList().getLast();
        }
    }

    private static void assertFailsNaming(Path shard, Path output, Function<ProgressListener, ?> job) {
        AtomicBoolean cut = new AtomicBoolean();
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> job.apply(truncatingAtFirstStep(shard, cut)));
        assertTrue(cut.get(), "the file was cut during the run");
        assertTrue(e.getMessage().contains(shard.getFileName().toString()), e.getMessage());
        assertFalse(Files.exists(output), "no output");
        assertEquals(List.of(), CheckpointFiles.list(output.getParent()).stream()
                .filter(n -> n.startsWith("." + output.getFileName())).toList(), "no staging left");
    }

    @Test
    void toGroupedFailsWithTheTruncatedShardNamed(@TempDir Path dir) throws IOException {
        Path in = dir.resolve("in");
        MODEL.write(in, 5, 1_000_000);
        Path out = dir.resolve("out");
        assertFailsNaming(lastShard(in), out, listener -> MoeConvert.toGrouped(ToGroupedRequest.of(in, out)
                .withRanks(RankSelection.all(2)), listener));
    }

    @Test
    void toHfFailsWithTheTruncatedShardNamed(@TempDir Path dir) throws IOException {
        Path in = dir.resolve("in");
        MODEL.write(in, 6, 1_000_000);
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, grouped)
                .withWriting(OutputOptions.DEFAULTS.withMaxShardBytes(1_000_000)));
        Path out = dir.resolve("back");
        assertFailsNaming(lastShard(grouped), out, listener -> MoeConvert.toHf(ToHfRequest.of(List.of(grouped), out),
                listener));
    }

    @Test
    void regroupingFailsWithTheTruncatedShardNamed(@TempDir Path dir) throws IOException {
        Path in = dir.resolve("in");
        MODEL.write(in, 7, 1_000_000);
        Path grouped = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, grouped)
                .withWriting(OutputOptions.DEFAULTS.withMaxShardBytes(1_000_000)));
        Path out = dir.resolve("regrouped");
        assertFailsNaming(lastShard(grouped), out, listener -> MoeConvert.toGrouped(ToGroupedRequest.of(grouped, out)
                .withLayout(dev.moeshard.moe.GroupedLayout.VLLM), listener));
    }

    @Test
    void gptOssFailsWithTheTruncatedShardNamed(@TempDir Path dir) throws IOException {
        Path in = dir.resolve("in");
        try (dev.moeshard.safetensors.Checkpoint c = dev.moeshard.safetensors.Checkpoint.open(Fixtures.of("gpt_oss"))) {
            java.util.Map<String, dev.moeshard.tensor.Tensor> all = new java.util.LinkedHashMap<>();
            c.keys().forEach(k -> all.put(k, c.tensor(k).contiguousCopy()));
            dev.moeshard.safetensors.ShardedCheckpointWriter.write(in, all, 200_000, java.util.Map.of("format", "pt"));
        }
        Files.copy(Fixtures.of("gpt_oss").resolve("config.json"), in.resolve("config.json"));
        Path out = dir.resolve("out");
        assertFailsNaming(lastShard(in), out, listener -> MoeConvert.toGrouped(ToGroupedRequest.of(in, out)
                .withRanks(RankSelection.all(2)), listener));
    }
}
