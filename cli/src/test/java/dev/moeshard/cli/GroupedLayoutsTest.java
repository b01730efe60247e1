package dev.moeshard.cli;

import dev.moeshard.convert.Fixtures;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** to-grouped --layout, and to-hf, verify and inspect on each layout; grouped → grouped without the HF step. */
class GroupedLayoutsTest {

    @ParameterizedTest(name = "{0} as {1} on {2} ranks")
    @CsvSource({
            "qwen3_moe, deepep, 1", "qwen3_moe, deepep, 2", "qwen3_moe, deepep, 3",
            "qwen3_moe, grouped, 1", "qwen3_moe, grouped, 2", "qwen3_moe, grouped, 3",
            "qwen3_moe, hf-v5, 1", "qwen3_moe, hf-v5, 2", "qwen3_moe, hf-v5, 3",
            "qwen3_moe, vllm, 1", "qwen3_moe, vllm, 2", "qwen3_moe, vllm, 3",
            "deepseek_v3, deepep, 1", "deepseek_v3, deepep, 2", "deepseek_v3, deepep, 3",
            "deepseek_v3, grouped, 1", "deepseek_v3, grouped, 2", "deepseek_v3, grouped, 3",
            "deepseek_v3, hf-v5, 1", "deepseek_v3, hf-v5, 2", "deepseek_v3, hf-v5, 3",
            "deepseek_v3, vllm, 1", "deepseek_v3, vllm, 2", "deepseek_v3, vllm, 3"})
    void eachLayoutRoundTripsThroughTheCommand(String fixture, String layout, int ranks, @TempDir Path dir)
            throws IOException {
        Path grouped = dir.resolve("grouped");
        Path back = dir.resolve("back");
        CliRun run = CliRun.of("to-grouped", Fixtures.of(fixture).toString(), grouped.toString(), "--layout", layout,
                "--ep-size", String.valueOf(ranks), "--all-ranks", "--quiet");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertTrue(Files.readString(grouped.resolve("ep-rank-0").resolve("moeshard.json"))
                .contains("\"layout\" : \"" + layout + "\""));
        CliRun verify = CliRun.of("verify", Fixtures.of(fixture).toString(), grouped.toString());
        assertEquals(ExitCode.OK, verify.code(), verify.toString());
        CliRun toHf = CliRun.of("to-hf", grouped.toString(), back.toString(), "--quiet");
        assertEquals(ExitCode.OK, toHf.code(), toHf.toString());
        RoundTrip.assertSameTensors(Fixtures.of(fixture), back);
        CliRun inspect = CliRun.of("inspect", grouped.resolve("ep-rank-0").toString());
        assertTrue(inspect.out().contains("layout:      " + layout), inspect.toString());
    }

    @ParameterizedTest(name = "{0}: {1} on 2 ranks to {2} on 3")
    @CsvSource({"qwen3_moe, deepep, grouped", "qwen3_moe, grouped, vllm", "qwen3_moe, hf-v5, deepep",
            "qwen3_moe, vllm, hf-v5", "deepseek_v3, grouped, deepep", "deepseek_v3, deepep, hf-v5"})
    void groupedInputRegroupsToWhatThePerExpertInputGroupsTo(String fixture, String from, String to, @TempDir Path dir) {
        Path source = dir.resolve("source");
        Path direct = dir.resolve("direct");
        Path regrouped = dir.resolve("regrouped");
        assertEquals(ExitCode.OK, CliRun.of("to-grouped", Fixtures.of(fixture).toString(), source.toString(),
                "--layout", from, "--ep-size", "2", "--all-ranks", "--quiet").code());
        assertEquals(ExitCode.OK, CliRun.of("to-grouped", Fixtures.of(fixture).toString(), direct.toString(),
                "--layout", to, "--ep-size", "3", "--all-ranks", "--quiet").code());
        CliRun run = CliRun.of("to-grouped", source.toString(), regrouped.toString(), "--layout", to, "--ep-size", "3",
                "--all-ranks", "--quiet");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        for (int r = 0; r < 3; r++) {
            RoundTrip.assertSameTensors(direct.resolve("ep-rank-" + r), regrouped.resolve("ep-rank-" + r));
        }
        CliRun verify = CliRun.of("verify", Fixtures.of(fixture).toString(), regrouped.toString());
        assertEquals(ExitCode.OK, verify.code(), verify.toString());
    }

    @Test
    void downProjsAloneWithHiddenEqualToIntermediateNeedsLayout(@TempDir Path dir) {
        Path input = dir.resolve("square");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("model.layers.0.mlp.experts.down_projs", Tensor.allocate(DType.BF16, 4, 16, 16));
        tensors.put("model.norm.weight", Tensor.allocate(DType.BF16, 16));
        ShardedCheckpointWriter.write(input, tensors, Long.MAX_VALUE, Map.of("format", "pt"));
        CliRun refused = CliRun.of("to-hf", input.toString(), dir.resolve("no").toString());
        assertEquals(ExitCode.INVALID_INPUT, refused.code(), refused.toString());
        assertTrue(refused.err().contains("--layout deepep|grouped"), refused.toString());
        assertTrue(!Files.exists(dir.resolve("no")));
        CliRun told = CliRun.of("to-hf", input.toString(), dir.resolve("yes").toString(), "--layout", "grouped", "--quiet");
        assertEquals(ExitCode.OK, told.code(), told.toString());
        try (Checkpoint c = Checkpoint.open(dir.resolve("yes"))) {
            assertTrue(c.contains("model.layers.0.mlp.experts.3.down_proj.weight"));
        }
    }
}
