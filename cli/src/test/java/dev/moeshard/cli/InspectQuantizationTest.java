package dev.moeshard.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.convert.Mxfp4Checkpoints;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** inspect reports quantization per tensor group and refuses a checkpoint whose scales are missing, naming them. */
class InspectQuantizationTest {

    @Test
    void reportsFp8GroupsWithBlockSizeAndBytes(@TempDir Path dir) {
        Path fp8 = KeepFp8Test.checkpoint(dir, 128);
        CliRun run = CliRun.of("inspect", fp8.toString());
        assertEquals(ExitCode.OK, run.code(), run.toString());
        // 2 layers x 4 experts of [128, 200] FP8 (25600 bytes) with [1, 2] F32 scales (8 bytes).
        assertTrue(run.out().contains("quantized:   model.layers.*.mlp.experts.*.gate_proj.weight: fp8 F8_E4M3, blocks"
                + " of 128x128, 8 tensors, " + 8 * (25600 + 8) + " bytes"), run.toString());
        assertTrue(run.out().contains("model.layers.*.self_attn.q_proj.weight: fp8 F8_E4M3"), run.toString());
    }

    @Test
    void reportsMxfp4Groups(@TempDir Path dir) throws IOException {
        Path mx = Mxfp4Checkpoints.write(dir, false, false);
        CliRun run = CliRun.of("inspect", mx.toString(), "--json");
        assertTrue(run.out().contains("\"format\" : \"mxfp4\""), run.toString());
        assertTrue(run.out().contains("model.layers.*.mlp.experts.down_proj_blocks"), run.toString());
    }

    @Test
    void missingAndMisShapedScalesAreProblemsNamingTheKey(@TempDir Path dir) {
        Path fp8 = KeepFp8Test.checkpoint(dir, 128);
        TestCheckpoints.removeTensor(fp8, "model.layers.0.mlp.experts.1.down_proj.weight_scale_inv");
        TestCheckpoints.replaceTensor(fp8, "model.layers.1.mlp.experts.3.gate_proj.weight_scale_inv",
                Tensor.allocate(DType.F32, 2, 2));
        CliRun run = CliRun.of("inspect", fp8.toString());
        assertEquals(ExitCode.INVALID_INPUT, run.code(), run.toString());
        assertTrue(run.out().contains("model.layers.0.mlp.experts.1.down_proj.weight_scale_inv: missing"), run.toString());
        assertTrue(run.out().contains("model.layers.1.mlp.experts.3.gate_proj.weight_scale_inv: shape [2, 2]"), run.toString());
    }
}
