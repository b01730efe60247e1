package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Inputs as users have them: a Hugging Face cache folder, an index or one shard of a folder, an --all-ranks output. */
class InputsAsUsersHaveThemTest {

    /** The qwen3_moe fixture in two shards with an index, as {@code dir/NAME}. */
    private static Path sharded(Path dir, String name) {
        Path in = dir.resolve(name);
        try (Checkpoint c = Checkpoint.open(Fixtures.of("qwen3_moe"))) {
            Map<String, Tensor> all = new LinkedHashMap<>();
            c.keys().forEach(k -> all.put(k, c.tensor(k).contiguousCopy()));
            ShardedCheckpointWriter.write(in, all, 150_000, Map.of("format", "pt"));
        }
        try {
            Files.copy(Fixtures.of("qwen3_moe").resolve("config.json"), in.resolve("config.json"));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return in;
    }

    @Test
    void aHuggingFaceCacheFolderStandsForTheSnapshotItsMainRefNames(@TempDir Path dir) throws Exception {
        // models--org--name/{refs/main, snapshots/HASH/<links>, blobs/<files>}, as huggingface_hub lays it out
        Path repo = dir.resolve("models--org--tiny-moe");
        String hash = "0123456789abcdef0123456789abcdef01234567";
        Path snapshot = Files.createDirectories(repo.resolve("snapshots").resolve(hash));
        Path blobs = Files.createDirectories(repo.resolve("blobs"));
        Files.createDirectories(repo.resolve("refs"));
        Files.writeString(repo.resolve("refs").resolve("main"), hash);
        Path source = sharded(dir, "source");
        try (Stream<Path> files = Files.list(source)) {
            int n = 0;
            for (Path f : files.toList()) {
                Path blob = blobs.resolve("blob" + n++);
                Files.copy(f, blob);
                Files.createSymbolicLink(snapshot.resolve(f.getFileName()), snapshot.relativize(blob));
            }
        }
        InspectReport report = MoeConvert.inspect(repo);
        assertEquals("qwen3_moe", report.family());
        Path out = dir.resolve("out");
        MoeConvert.toGrouped(ToGroupedRequest.of(repo, out));
        MoeConvert.toHf(ToHfRequest.of(List.of(out), dir.resolve("back")));
        CheckpointFiles.assertSameTensors(source, dir.resolve("back"));
    }

    @Test
    void anIndexOrOneShardOfAnIndexedFolderStandsForTheFolder(@TempDir Path dir) {
        Path in = sharded(dir, "in");
        for (Path given : List.of(in.resolve("model.safetensors.index.json"), in.resolve("model-00001-of-00002.safetensors"))) {
            InspectReport report = MoeConvert.inspect(given);
            assertEquals(2, report.files().size(), given.toString());
            assertTrue(report.valid(), report.problems().toString());
        }
    }

    @Test
    void anAllRanksOutputFolderIsInspectedWithItsLayersExpertsLayoutAndRanks(@TempDir Path dir) {
        Path out = dir.resolve("grouped");
        MoeConvert.toGrouped(ToGroupedRequest.of(Fixtures.of("qwen3_moe"), out).withRanks(RankSelection.all(3)));
        InspectReport report = MoeConvert.inspect(out);
        assertEquals(List.of("ep-rank-0: experts [0, 3)", "ep-rank-1: experts [3, 6)", "ep-rank-2: experts [6, 8)"),
                report.ranks());
        assertEquals(List.of("model.layers.0", "model.layers.1"), report.expertLayers());
        assertEquals("deepep", report.layout());
        assertEquals(8, report.numExperts());
        assertTrue(report.valid(), report.problems().toString());
        InspectReport one = MoeConvert.inspect(out.resolve("ep-rank-1"));
        assertEquals(2, one.expertLayers().size());
    }
}
