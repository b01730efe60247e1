package dev.moeshard.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.convert.Fixtures;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hostile inputs as the command line reports them: the documented exit code and one line, no stack trace. */
class HostileExitCodesTest {

    private static void assertOneLine(CliRun run, int code, String... words) {
        assertEquals(code, run.code(), run.toString());
        assertTrue(run.err().startsWith("moeshard: "), run.toString());
        assertFalse(run.err().contains("\tat "), "no stack trace: " + run);
        for (String w : words) {
            assertTrue(run.err().contains(w), run.toString());
        }
    }

    @Test
    void anOutputInsideTheInputIsAUsageError(@TempDir Path dir) {
        Path in = Fixtures.copy("qwen3_moe", dir);
        assertOneLine(CliRun.of("to-grouped", in.toString(), in.resolve("out").toString(), "--force"), ExitCode.USAGE,
                "inside the input");
        assertOneLine(CliRun.of("to-grouped", in.toString(), in.toString(), "--force"), ExitCode.USAGE, "is the input");
        assertTrue(Files.exists(in.resolve("model.safetensors")));
    }

    @Test
    void aFifoInputIsInvalidInput(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("in.safetensors");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        assertOneLine(CliRun.of("inspect", fifo.toString()), ExitCode.INVALID_INPUT, "FIFO");
        assertOneLine(CliRun.of("to-grouped", fifo.toString(), dir.resolve("out").toString()), ExitCode.INVALID_INPUT,
                "FIFO");
    }

    @Test
    void anInvalidConfigIsInvalidInput(@TempDir Path dir) throws Exception {
        Path in = Fixtures.copy("qwen3_moe", dir);
        Files.writeString(in.resolve("config.json"), "not json");
        assertOneLine(CliRun.of("to-grouped", in.toString(), dir.resolve("out").toString()), ExitCode.INVALID_INPUT,
                "config.json", "not valid JSON");
    }

    @Test
    void controlCharactersFromTheInputAreShownEscaped(@TempDir Path dir) throws Exception {
        Path in = Files.createDirectories(dir.resolve("evil"));
        try (Checkpoint c = Checkpoint.open(Fixtures.of("qwen3_moe"))) {
            Map<String, Tensor> renamed = new LinkedHashMap<>();
            c.keys().forEach(k -> renamed.put("\u001b[2Kdone " + k, c.tensor(k).contiguousCopy()));
            ShardedCheckpointWriter.write(in, renamed, Long.MAX_VALUE, Map.of("format", "pt"));
        }
        Files.copy(Fixtures.of("qwen3_moe").resolve("config.json"), in.resolve("config.json"));
        CliRun run = CliRun.of("inspect", in.toString());
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertTrue(run.out().contains("\\x1b[2Kdone model.layers.0"), run.toString());
        assertFalse(run.out().contains("\u001b"), "no raw escape character: " + run);
    }
}
