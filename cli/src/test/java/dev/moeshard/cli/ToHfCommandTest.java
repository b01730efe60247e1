package dev.moeshard.cli;

import dev.moeshard.convert.Fixtures;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.safetensors.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import dev.moeshard.cuda.Cuda;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** to-grouped then to-hf gives back the original checkpoint, tensor for tensor and byte for byte. */
class ToHfCommandTest {

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe", "deepseek_v3"})
    void epOneRoundTripsByteForByte(String fixture, @TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        assertOk(CliRun.of("to-grouped", Fixtures.of(fixture).toString(), grouped.toString(), "--quiet"));
        Path hf = dir.resolve("hf");
        CliRun run = CliRun.of("to-hf", grouped.toString(), hf.toString(), "--max-shard-size", "100KB");
        assertOk(run);
        assertTrue(run.err().contains("done:"), run.toString());
        RoundTrip.assertSameTensors(Fixtures.of(fixture), hf);
        assertTrue(Files.exists(hf.resolve("config.json")));
        try (Checkpoint out = Checkpoint.open(hf)) {
            assertTrue(out.files().size() > 1, "100KB shards");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe", "deepseek_v3"})
    void allRanksOfThreeMergeByExpertIdFromTheirDirectory(String fixture, @TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        assertOk(CliRun.of("to-grouped", Fixtures.of(fixture).toString(), grouped.toString(), "--ep-size", "3",
                "--all-ranks", "--quiet"));
        Path hf = dir.resolve("hf");
        assertOk(CliRun.of("to-hf", grouped.toString(), hf.toString(), "--quiet", "--threads", "2"));
        RoundTrip.assertSameTensors(Fixtures.of(fixture), hf);
    }

    @Test
    void ranksGivenOutOfOrderAreMergedByTheirManifests(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        assertOk(CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), grouped.toString(), "--ep-size", "3",
                "--all-ranks", "--quiet"));
        Path hf = dir.resolve("hf");
        assertOk(CliRun.of("to-hf", grouped.resolve("ep-rank-2").toString(), grouped.resolve("ep-rank-0").toString(),
                grouped.resolve("ep-rank-1").toString(), hf.toString(), "--quiet"));
        RoundTrip.assertSameTensors(Fixtures.of("qwen3_moe"), hf);
    }

    @Test
    void withoutManifestsOrConfigTheRanksGoInTheOrderGiven(@TempDir Path dir) throws Exception {
        Path grouped = dir.resolve("grouped");
        assertOk(CliRun.of("to-grouped", Fixtures.of("deepseek_v3").toString(), grouped.toString(), "--ep-size", "2",
                "--all-ranks", "--quiet"));
        for (int r = 0; r < 2; r++) {
            Files.delete(grouped.resolve("ep-rank-" + r).resolve("moeshard.json"));
        }
        Path hf = dir.resolve("hf");
        assertOk(CliRun.of("to-hf", grouped.resolve("ep-rank-0").toString(), grouped.resolve("ep-rank-1").toString(),
                hf.toString(), "--quiet"));
        RoundTrip.assertSameTensors(Fixtures.of("deepseek_v3"), hf);

        for (int r = 0; r < 2; r++) {
            Files.delete(grouped.resolve("ep-rank-" + r).resolve("config.json"));
        }
        Path bare = dir.resolve("bare");
        assertOk(CliRun.of("to-hf", grouped.toString(), bare.toString(), "--quiet"));
        RoundTrip.assertSameTensors(Fixtures.of("deepseek_v3"), bare);
    }

    @Test
    void aMissingRankIsRefusedWithItsExpertsAndNothingIsWritten(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        assertOk(CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), grouped.toString(), "--ep-size", "3",
                "--all-ranks", "--quiet"));
        Path hf = dir.resolve("hf");
        CliRun run = CliRun.of("to-hf", grouped.resolve("ep-rank-0").toString(), grouped.resolve("ep-rank-2").toString(),
                hf.toString());
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.err().contains("model.layers.0.mlp.experts.gate_and_up_projs: experts [3, 4, 5] are held by no rank"),
                run.toString());
        assertTrue(run.err().contains("model.layers.1.mlp.experts.down_projs: experts [3, 4, 5]"), run.toString());
        assertFalse(Files.exists(hf));
    }

    @Test
    void theSameRankTwiceHoldsItsExpertsTwice(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        assertOk(CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), grouped.toString(), "--ep-size", "2",
                "--all-ranks", "--quiet"));
        String rank0 = grouped.resolve("ep-rank-0").toString();
        CliRun run = CliRun.of("to-hf", rank0, rank0, grouped.resolve("ep-rank-1").toString(),
                dir.resolve("hf").toString());
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.err().contains("expert 0 is held by ranks [0, 1]"), run.toString());
        assertFalse(Files.exists(dir.resolve("hf")));
    }

    @Test
    void anExistingOutputNeedsForceAndCudaIsAMissingDevice(@TempDir Path dir) throws Exception {
        Path grouped = dir.resolve("grouped");
        assertOk(CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), grouped.toString(), "--quiet"));
        Path hf = Files.createDirectory(dir.resolve("hf"));
        CliRun refused = CliRun.of("to-hf", grouped.toString(), hf.toString());
        assertEquals(ExitCode.USAGE, refused.code(), refused.toString());
        if (!Cuda.availability().available()) {
            CliRun cuda = CliRun.of("to-hf", grouped.toString(), hf.toString(), "--force", "--device", "cuda");
            assertEquals(ExitCode.DEVICE_MISSING, cuda.code(), cuda.toString());
            assertTrue(cuda.err().contains("CUDA unavailable"), cuda.toString());
        }
        assertOk(CliRun.of("to-hf", grouped.toString(), hf.toString(), "--force", "--quiet"));
        RoundTrip.assertSameTensors(Fixtures.of("qwen3_moe"), hf);
    }

    private static void assertOk(CliRun run) {
        assertEquals(ExitCode.OK, run.code(), run.toString());
    }
}
