package dev.moeshard.cli;

import dev.moeshard.convert.Fixtures;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.safetensors.Checkpoint;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class VerifyCommandTest {

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe", "deepseek_v3"})
    void toGroupedOutputVerifiesOnOneRankAndOnThree(String fixture, @TempDir Path dir) {
        Path one = dir.resolve("one");
        assertEquals(ExitCode.OK, CliRun.of("to-grouped", Fixtures.of(fixture).toString(), one.toString(), "--quiet").code());
        CliRun run = CliRun.of("verify", Fixtures.of(fixture).toString(), one.toString());
        assertEquals(ExitCode.OK, run.code(), run.toString());
        assertTrue(run.out().startsWith("identical:"), run.toString());

        Path three = dir.resolve("three");
        assertEquals(ExitCode.OK, CliRun.of("to-grouped", Fixtures.of(fixture).toString(), three.toString(),
                "--ep-size", "3", "--all-ranks", "--quiet").code());
        CliRun all = CliRun.of("verify", Fixtures.of(fixture).toString(), three.toString());
        assertEquals(ExitCode.OK, all.code(), all.toString());
        assertTrue(all.out().contains("over 3 grouped checkpoints"), all.toString());
    }

    @Test
    void aFlippedByteIsReportedWithItsKeyRankAndElement(@TempDir Path dir) throws Exception {
        Path grouped = dir.resolve("grouped");
        assertEquals(ExitCode.OK, CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), grouped.toString(),
                "--ep-size", "3", "--all-ranks", "--quiet").code());
        // down_projs [E_local, I, H] = [3, 32, 64] BF16 on rank 1 (experts 3..5): local expert 1, row i=1, column h=2
        // is global expert 4's down_proj [H, I] element [2, 1], row-major index 2 * 32 + 1 = 65.
        flipByte(grouped.resolve("ep-rank-1"), "model.layers.1.mlp.experts.down_projs", 32 * 64 * 2 + 2 * (64 + 2));
        CliRun run = CliRun.of("verify", Fixtures.of("qwen3_moe").toString(), grouped.toString());
        assertEquals(ExitCode.DIFFERENT, run.code(), run.toString());
        assertTrue(run.out().contains("1 difference"), run.toString());
        assertTrue(run.out().contains("model.layers.1.mlp.experts.4.down_proj.weight (rank 1): element 65 [2, 1] is "),
                run.toString());
    }

    @Test
    void aMissingRankAndAWrongDtypeAreDifferences(@TempDir Path dir) {
        Path grouped = dir.resolve("grouped");
        assertEquals(ExitCode.OK, CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), grouped.toString(),
                "--ep-size", "2", "--all-ranks", "--quiet").code());
        CliRun partial = CliRun.of("verify", Fixtures.of("qwen3_moe").toString(), grouped.resolve("ep-rank-0").toString());
        assertEquals(ExitCode.DIFFERENT, partial.code(), partial.toString());
        assertTrue(partial.out().contains("model.layers.0.mlp.experts.4.gate_proj.weight: missing"), partial.toString());

        Path f32 = dir.resolve("f32");
        assertEquals(ExitCode.OK, CliRun.of("to-grouped", Fixtures.of("qwen3_moe").toString(), f32.toString(),
                "--dtype", "f32", "--quiet").code());
        CliRun run = CliRun.of("verify", Fixtures.of("qwen3_moe").toString(), f32.toString(), "--max-differences", "3");
        assertEquals(ExitCode.DIFFERENT, run.code(), run.toString());
        assertTrue(run.out().contains("dtype F32, expected BF16"), run.toString());
        assertTrue(run.out().contains("the first 3:"), run.toString());
    }

    @Test
    void fp8InputsAreComparedAfterDequantizationAndTheirScalesAreNotExpected(@TempDir Path dir) throws Exception {
        Path fp8 = ToGroupedOptionsTest.fp8Copy("qwen3_moe", dir.resolve("fp8"));
        Path grouped = dir.resolve("grouped");
        assertEquals(ExitCode.OK, CliRun.of("to-grouped", fp8.toString(), grouped.toString(),
                "--ep-size", "2", "--all-ranks", "--quiet").code());
        CliRun same = CliRun.of("verify", fp8.toString(), grouped.toString());
        assertEquals(ExitCode.OK, same.code(), same.toString());
        assertTrue(same.out().startsWith("identical: "), same.toString());

        // gate_and_up_projs [E_local, H, 2I] BF16 on rank 1 (experts 4..7): its first element is expert 4's gate [0, 0].
        flipByte(grouped.resolve("ep-rank-1"), "model.layers.1.mlp.experts.gate_and_up_projs", 1);
        CliRun run = CliRun.of("verify", fp8.toString(), grouped.toString());
        assertEquals(ExitCode.DIFFERENT, run.code(), run.toString());
        assertTrue(run.out().contains("1 difference"), run.toString());
        assertTrue(run.out().contains("model.layers.1.mlp.experts.4.gate_proj.weight (rank 1): element 0 [0, 0] is "),
                run.toString());
    }

    /** Inverts one byte of tensor {@code key}'s data in the checkpoint in {@code dir}, in place. */
    private static void flipByte(Path dir, String key, long byteInTensor) throws Exception {
        Path file;
        long begin;
        try (Checkpoint c = Checkpoint.open(dir)) {
            file = c.fileOf(key);
            begin = c.entry(key).begin();
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(len, 0);
            long at = 8 + len.getLong(0) + begin + byteInTensor;
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, at);
            b.put(0, (byte) ~b.get(0));
            b.rewind();
            ch.write(b, at);
        }
    }
}
