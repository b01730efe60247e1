package dev.moeshard.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BenchCommandTest {

    @Test
    void tinyLayerOnBothKernelsPrintsRatios() {
        CliRun run = CliRun.of("bench", "--experts", "4", "--hidden", "64", "--intermediate", "32", "--repetitions", "2",
                "--threads", "2", "--both");
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertTrue(run.out().contains("E=4 H=64 I=32 BF16"), run.toString());
        assertEquals(2, run.out().lines().filter(l -> l.contains("merge") && l.contains("split")
                && l.split("ratio").length == 3).count(), run.toString());
    }

    @Test
    void badSizesAreUsageErrors() {
        assertEquals(ExitCode.USAGE, CliRun.of("bench", "--experts", "0").code());
        assertEquals(ExitCode.USAGE, CliRun.of("bench", "--dtype", "i8").code());
    }
}
