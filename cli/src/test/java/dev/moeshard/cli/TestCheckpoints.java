package dev.moeshard.cli;

import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/** Damaged checkpoints for tests: a copy of a real one with a tensor taken out or changed. */
final class TestCheckpoints {
    private TestCheckpoints() {}

    /** Rewrites the checkpoint in {@code dir} (one file or shards) as one file without tensor {@code key}. */
    static void removeTensor(Path dir, String key) {
        rewrite(dir, key, null);
    }

    /** Rewrites the checkpoint in {@code dir} as one file with tensor {@code key} replaced by {@code value}. */
    static void replaceTensor(Path dir, String key, Tensor value) {
        rewrite(dir, key, value);
    }

    private static void rewrite(Path dir, String key, Tensor replacement) {
        Map<String, Tensor> kept = new LinkedHashMap<>();
        try (Checkpoint in = Checkpoint.open(dir)) {
            if (!in.contains(key)) {
                throw new IllegalArgumentException(dir + " has no tensor " + key);
            }
            for (String k : in.keys()) {
                if (!k.equals(key)) {
                    kept.put(k, in.tensor(k).contiguousCopy());
                } else if (replacement != null) {
                    kept.put(k, replacement);
                }
            }
        }
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                if (f.getFileName().toString().endsWith(".safetensors") || f.getFileName().toString().endsWith(".index.json")) {
                    Files.delete(f);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ShardedCheckpointWriter.write(dir, kept, Long.MAX_VALUE, Map.of("format", "pt"));
    }
}
