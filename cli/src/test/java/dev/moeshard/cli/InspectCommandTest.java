package dev.moeshard.cli;

import dev.moeshard.convert.Fixtures;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InspectCommandTest {

    @Test
    void qwen3MoeIsPerExpertAndComplete() {
        CliRun run = CliRun.of("inspect", Fixtures.of("qwen3_moe").toString());
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertTrue(run.out().contains("family:      qwen3_moe (from config.json)"), run.toString());
        assertTrue(run.out().contains("layout:      per-expert"), run.toString());
        assertTrue(run.out().contains("8 per layer, gated, H=64 I=32"), run.toString());
        assertTrue(run.out().contains("problems:    none"), run.toString());
    }

    @Test
    void deepseekV3JsonListsItsTwoExpertLayers() throws Exception {
        CliRun run = CliRun.of("inspect", Fixtures.of("deepseek_v3").toString(), "--json");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        JsonNode json = new ObjectMapper().readTree(run.out());
        assertEquals("deepseek_v3", json.get("family").asText());
        assertEquals(2, json.get("files").size());
        assertEquals(2, json.get("expertLayers").size());
        assertEquals(2 * 8 * 3, json.get("expertTensors").asInt());
        assertEquals(3, json.get("projections").size());
        assertTrue(json.get("dtypes").has("BF16"));
        assertTrue(json.get("totalBytes").asLong() > 0);
        assertEquals(0, json.get("problems").size());
    }

    @Test
    void aMissingExpertTensorIsAProblemAndExitsThree(@TempDir Path dir) throws Exception {
        Path input = Fixtures.copy("qwen3_moe", dir);
        TestCheckpoints.removeTensor(input, "model.layers.1.mlp.experts.5.up_proj.weight");
        CliRun run = CliRun.of("inspect", input.toString(), "--json");
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        JsonNode json = new ObjectMapper().readTree(run.out());
        assertTrue(json.get("problems").toString().contains("model.layers.1.mlp.experts.5.up_proj.weight"), run.toString());
        assertTrue(Files.exists(input.resolve("model.safetensors")));
    }
}
