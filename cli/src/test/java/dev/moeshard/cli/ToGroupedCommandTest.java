package dev.moeshard.cli;

import dev.moeshard.convert.Fixtures;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.family.DetectedModel;
import dev.moeshard.moe.family.FamilyDetection;
import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * End to end: the command's output against the adapter's own {@code fromHf} of the same input, byte for byte, and
 * the refusals that must leave nothing at OUTPUT.
 */
class ToGroupedCommandTest {

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe", "deepseek_v3"})
    void epOneMatchesTheAdapterByteForByte(String fixture, @TempDir Path dir) throws Exception {
        Path output = dir.resolve("out");
        CliRun run = CliRun.of("to-grouped", Fixtures.of(fixture).toString(), output.toString(), "--ep-size", "1",
                "--ep-rank", "0", "--max-shard-size", "100KB");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertMatchesAdapter(Fixtures.of(fixture), output, DeviceMesh.expertParallel(1, 0));
        assertTrue(Files.exists(output.resolve("config.json")));
        JsonNode manifest = new ObjectMapper().readTree(output.resolve("moeshard.json").toFile());
        assertEquals(fixture, manifest.get("family").asText());
        assertEquals(0, manifest.get("expertStart").asInt());
        assertEquals(8, manifest.get("expertEnd").asInt());
        assertNoStagingLeft(dir);
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe", "deepseek_v3"})
    void allRanksOfThreeEachMatchTheAdapter(String fixture, @TempDir Path dir) throws Exception {
        Path output = dir.resolve("out");
        CliRun run = CliRun.of("to-grouped", Fixtures.of(fixture).toString(), output.toString(), "--ep-size", "3",
                "--all-ranks", "--quiet");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertEquals("", run.err());
        int[][] ranges = {{0, 3}, {3, 6}, {6, 8}};
        for (int r = 0; r < 3; r++) {
            Path rankDir = output.resolve("ep-rank-" + r);
            assertMatchesAdapter(Fixtures.of(fixture), rankDir, DeviceMesh.expertParallel(3, r));
            JsonNode manifest = new ObjectMapper().readTree(rankDir.resolve("moeshard.json").toFile());
            assertEquals(3, manifest.get("epSize").asInt());
            assertEquals(r, manifest.get("epRank").asInt());
            assertEquals(ranges[r][0], manifest.get("expertStart").asInt());
            assertEquals(ranges[r][1], manifest.get("expertEnd").asInt());
        }
        assertNoStagingLeft(dir);
    }

    @Test
    void dtypeConvertsOnlyTheGroupedTensors(@TempDir Path dir) {
        Path output = dir.resolve("out");
        CliRun run = CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), output.toString(), "--dtype", "f32");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        try (Checkpoint out = Checkpoint.open(output)) {
            assertEquals(DType.F32, out.entry("model.layers.0.mlp.experts.gate_and_up_projs").dtype());
            assertEquals(DType.BF16, out.entry("model.embed_tokens.weight").dtype());
        }
    }

    /**
     * LongCat-Flash with its identity experts' unused gate and up rows, once refused as experts beyond E: grouped on an
     * uneven EP 3 with those tensors on every rank, verified, and restored byte for byte.
     */
    @Test
    void longCatWithItsIdentityExpertsTensorsConvertsBothWays(@TempDir Path dir) {
        Path input = Fixtures.of("families/longcat_flash");
        Path output = dir.resolve("out");
        CliRun run = CliRun.of("to-grouped", input.toString(), output.toString(), "--ep-size", "3", "--all-ranks");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertTrue(run.err().contains("8 tensors under the 2 identity experts"), run.toString());
        for (int rank = 0; rank < 3; rank++) {
            try (Checkpoint out = Checkpoint.open(output.resolve("ep-rank-" + rank))) {
                assertTrue(out.keys().contains("model.layers.1.mlp.experts.9.up_proj.weight"), "rank " + rank);
                assertEquals(rank < 2 ? 3 : 2, out.entry("model.layers.1.mlp.experts.down_projs").shape()[0]);
            }
        }
        CliRun verify = CliRun.of("verify", input.toString(), output.toString());
        assertEquals(ExitCode.OK, verify.code(), verify.toString());
        Path back = dir.resolve("back");
        CliRun toHf = CliRun.of("to-hf", output.toString(), back.toString(), "--quiet");
        assertEquals(ExitCode.OK, toHf.code(), toHf.toString());
        RoundTrip.assertSameTensors(input, back);
    }

    @Test
    void aMissingExpertIsRefusedWithItsKeyAndNothingIsWritten(@TempDir Path dir) {
        Path input = Fixtures.copy("qwen3_moe", dir);
        String removed = "model.layers.1.mlp.experts.5.up_proj.weight";
        TestCheckpoints.removeTensor(input, removed);
        Path output = dir.resolve("out");
        CliRun run = CliRun.of("to-grouped", input.toString(), output.toString());
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.err().contains(removed), run.toString());
        assertTrue(run.err().contains("nothing written"), run.toString());
        assertFalse(Files.exists(output));
        assertNoStagingLeft(dir);
    }

    @Test
    void expertsOfAnotherShapeOrDtypeAreAllListed(@TempDir Path dir) {
        Path input = Fixtures.copy("deepseek_v3", dir);
        TestCheckpoints.replaceTensor(input, "model.layers.1.mlp.experts.2.gate_proj.weight",
                Tensor.allocate(DType.BF16, 33, 64));
        TestCheckpoints.replaceTensor(input, "model.layers.2.mlp.experts.4.down_proj.weight",
                Tensor.allocate(DType.F32, 64, 32));
        CliRun run = CliRun.of("to-grouped", input.toString(), dir.resolve("out").toString());
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.err().contains("2 problems"), run.toString());
        assertTrue(run.err().contains("model.layers.1.mlp.experts.2.gate_proj.weight: shape [33, 64], expected [32, 64]"),
                run.toString());
        assertTrue(run.err().contains("model.layers.2.mlp.experts.4.down_proj.weight: dtype F32"), run.toString());
        assertFalse(Files.exists(dir.resolve("out")));
        assertNoStagingLeft(dir);
    }

    @Test
    void aMissingExpertOfAnotherRankDoesNotStopThisOne(@TempDir Path dir) {
        Path input = Fixtures.copy("qwen3_moe", dir);
        TestCheckpoints.removeTensor(input, "model.layers.1.mlp.experts.7.down_proj.weight");
        CliRun rank0 = CliRun.of("to-grouped", input.toString(), dir.resolve("r0").toString(),
                "--ep-size", "2", "--ep-rank", "0");
        assertEquals(ExitCode.OK, rank0.code(), rank0.toString());
        CliRun all = CliRun.of("to-grouped", input.toString(), dir.resolve("all").toString(), "--ep-size", "2",
                "--all-ranks");
        assertEquals(ExitCode.INVALID_INPUT, all.code(), all.toString());
        assertTrue(all.err().contains("experts.7.down_proj"), all.toString());
        assertFalse(Files.exists(dir.resolve("all")));
    }

    @Test
    void anExistingOutputNeedsForce(@TempDir Path dir) throws Exception {
        Path output = Files.createDirectory(dir.resolve("out"));
        Files.writeString(output.resolve("keep.txt"), "mine");
        CliRun run = CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), output.toString());
        assertEquals(ExitCode.USAGE, run.code(), run.toString());
        assertTrue(run.err().contains("already exists") && run.err().contains("--force"), run.toString());
        assertEquals("mine", Files.readString(output.resolve("keep.txt")));

        CliRun forced = CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), output.toString(), "--force");
        assertEquals(ExitCode.OK, forced.code(), forced.toString());
        assertFalse(Files.exists(output.resolve("keep.txt")));
        assertMatchesAdapter(Fixtures.of("qwen3_moe"), output, null);
    }

    @Test
    void anEpRankNotBelowEpSizeIsAUsageError(@TempDir Path dir) {
        CliRun run = CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), dir.resolve("out").toString(),
                "--ep-size", "2", "--ep-rank", "2");
        assertEquals(ExitCode.USAGE, run.code(), run.toString());
        assertTrue(run.err().contains("--ep-rank"), run.toString());
        assertFalse(Files.exists(dir.resolve("out")));
    }

    /**
     * The output holds exactly what {@code fromHf} of the input returns for {@code mesh}: the same keys, and each
     * tensor with the same dtype, shape and bytes; non-expert tensors are then the input's own.
     */
    private static void assertMatchesAdapter(Path input, Path output, DeviceMesh mesh) {
        DetectedModel model = FamilyDetection.fromConfigFile(input.resolve("config.json"));
        try (Checkpoint in = Checkpoint.open(input); Checkpoint out = Checkpoint.open(output)) {
            Map<String, Tensor> expected = model.adapter().fromHf(in.tensors(),
                    FromHfOptions.defaults().withMesh(mesh));
            assertEquals(new HashSet<>(expected.keySet()), new HashSet<>(out.keys()));
            for (Map.Entry<String, Tensor> e : expected.entrySet()) {
                Tensor got = out.tensor(e.getKey());
                assertEquals(e.getValue().dtype(), got.dtype(), e.getKey());
                assertArrayEquals(e.getValue().sizes(), got.sizes(), e.getKey());
                assertEquals(-1, e.getValue().contiguousCopy().segment().mismatch(got.contiguousCopy().segment()),
                        e.getKey() + " differs");
                if (in.contains(e.getKey())) {
                    assertEquals(-1, in.tensor(e.getKey()).segment().mismatch(got.segment()), e.getKey());
                }
            }
            Set<String> grouped = new HashSet<>();
            for (String k : out.keys()) {
                if (k.endsWith(".mlp.experts.gate_and_up_projs") || k.endsWith(".mlp.experts.down_projs")) {
                    grouped.add(k);
                }
            }
            assertEquals(4, grouped.size(), "two MoE layers, two grouped tensors each");
        }
    }

    private static void assertNoStagingLeft(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            List<String> hidden = files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".")).toList();
            assertEquals(List.of(), hidden);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
