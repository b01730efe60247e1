package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/** Reading, comparing and damaging checkpoint directories in tests, through the safetensors API only. */
final class CheckpointFiles {
    private CheckpointFiles() {}

    /** {@code actual} holds exactly {@code expected}'s tensors: same keys, and per key the same dtype, shape, bytes. */
    static void assertSameTensors(Path expected, Path actual) {
        try (Checkpoint want = Checkpoint.open(expected); Checkpoint got = Checkpoint.open(actual)) {
            assertEquals(new TreeSet<>(want.keys()), new TreeSet<>(got.keys()), actual + ": keys");
            for (String key : want.keys()) {
                assertEquals(want.entry(key).dtype(), got.entry(key).dtype(), actual + ": dtype of " + key);
                assertArrayEquals(want.entry(key).shape(), got.entry(key).shape(), actual + ": shape of " + key);
                assertEquals(-1, want.tensor(key).segment().mismatch(got.tensor(key).segment()),
                        actual + ": bytes of " + key);
            }
        }
    }

    /** The keys of the checkpoint in {@code dir}. */
    static List<String> keys(Path dir) {
        try (Checkpoint c = Checkpoint.open(dir)) {
            return c.keys();
        }
    }

    /** The tensor bytes of the checkpoint in {@code dir}, as its headers state them. */
    static long tensorBytes(Path dir) {
        try (Checkpoint c = Checkpoint.open(dir)) {
            return c.keys().stream().mapToLong(k -> c.entry(k).byteSize()).sum();
        }
    }

    /** Rewrites the checkpoint in {@code dir} as one file without {@code removed}; other files stay. */
    static void removeTensors(Path dir, Collection<String> removed) {
        rewrite(dir, (key, t) -> removed.contains(key) ? null : t, removed, Map.of());
    }

    /** Rewrites the checkpoint in {@code dir} with tensor {@code key} replaced by {@code change} of a copy of it. */
    static void changeTensor(Path dir, String key, UnaryOperator<Tensor> change) {
        rewrite(dir, (k, t) -> k.equals(key) ? change.apply(t) : t, List.of(key), Map.of());
    }

    /** Rewrites the checkpoint in {@code dir} with tensor {@code key}, which it lacks, added as {@code added}. */
    static void addTensor(Path dir, String key, Tensor added) {
        rewrite(dir, (k, t) -> t, List.of(), Map.of(key, added));
    }

    private interface Edit {
        Tensor apply(String key, Tensor copy);
    }

    private static void rewrite(Path dir, Edit edit, Collection<String> mustExist, Map<String, Tensor> added) {
        Map<String, Tensor> kept = new LinkedHashMap<>();
        try (Checkpoint in = Checkpoint.open(dir)) {
            for (String k : mustExist) {
                if (!in.contains(k)) {
                    throw new IllegalArgumentException(dir + " has no tensor " + k);
                }
            }
            for (String k : added.keySet()) {
                if (in.contains(k)) {
                    throw new IllegalArgumentException(dir + " has a tensor " + k + " already");
                }
            }
            for (String k : in.keys()) {
                Tensor t = edit.apply(k, in.tensor(k).contiguousCopy());
                if (t != null) {
                    kept.put(k, t);
                }
            }
            kept.putAll(added);
        }
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                String n = f.getFileName().toString();
                if (n.endsWith(".safetensors") || n.endsWith(".index.json")) {
                    Files.delete(f);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ShardedCheckpointWriter.write(dir, kept, Long.MAX_VALUE, Map.of("format", "pt"));
    }

    /** The names in {@code dir}, sorted; hidden ones (a staging sibling {@code .NAME.tmp-*}) included. */
    static List<String> list(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every file under {@code dir} with its bytes, to show that nothing in it changed. */
    static Map<String, byte[]> snapshot(Path dir) {
        Map<String, byte[]> out = new java.util.TreeMap<>();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                out.put(dir.relativize(f).toString(), Files.readAllBytes(f));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    static void assertSameFiles(Map<String, byte[]> expected, Map<String, byte[]> actual) {
        assertEquals(expected.keySet(), actual.keySet(), "files");
        for (String f : expected.keySet()) {
            assertArrayEquals(expected.get(f), actual.get(f), f + " changed");
        }
    }
}
