package dev.moeshard.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.safetensors.Checkpoint;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class DemoCommandTest {

    @Test
    void demoWritesBothCheckpointsVerifiesThemAndExitsZero(@TempDir Path dir) throws Exception {
        StringWriter out = new StringWriter();
        CommandLine cli = new CommandLine(new MoeshardCommand());
        cli.setOut(new PrintWriter(out));
        int code = cli.execute("demo", dir.toString());

        assertEquals(ExitCode.OK, code, out.toString());
        assertTrue(out.toString().contains("byte-identical"), out.toString());
        assertTrue(Files.exists(dir.resolve("hf/model.safetensors.index.json")));
        for (int rank = 0; rank < 2; rank++) {
          try (Checkpoint grouped = Checkpoint.open(dir.resolve("grouped/ep-rank-" + rank))) {
            var gateAndUp = grouped.entry("model.layers.0.mlp.experts.gate_and_up_projs");
            assertEquals(8, gateAndUp.shape()[0], "each of 2 ranks holds 8 of the 16 experts");
            assertEquals(512, gateAndUp.shape()[1]);
            assertEquals(512, gateAndUp.shape()[2]);
            assertTrue(grouped.keys().stream().noneMatch(k -> k.contains(".mlp.experts.0.")));
            assertTrue(grouped.contains("model.embed_tokens.weight"), "every rank holds the non-expert tensors");
          }
        }
    }

    @Test
    void unknownSubcommandIsAUsageError() {
        CommandLine cli = new CommandLine(new MoeshardCommand());
        cli.setErr(new PrintWriter(new StringWriter()));
        assertEquals(ExitCode.USAGE, cli.execute("no-such-command"));
    }
}
