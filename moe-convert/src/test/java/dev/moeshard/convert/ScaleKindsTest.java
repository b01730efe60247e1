package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Per-tensor FP8 scales and activation scales (compressed-tensors, ModelOpt) are kept or refused, never ignored. */
class ScaleKindsTest {

    /** qwen3_moe with every expert weight as F8_E4M3 codes beside a per-tensor weight_scale and an input_scale. */
    private static Path perTensorFp8(Path dir, String quantMethod) throws Exception {
        Path in = Files.createDirectories(dir.resolve("fp8"));
        try (Checkpoint c = Checkpoint.open(Fixtures.of("qwen3_moe"))) {
            Map<String, Tensor> all = new LinkedHashMap<>();
            for (String k : c.keys()) {
                Tensor t = c.tensor(k).contiguousCopy();
                if (k.contains(".experts.")) {
                    // the low byte of each BF16 as an FP8 code: any bytes will do, they only move
                    Tensor codes = Tensor.allocate(DType.F8_E4M3, t.sizes());
                    for (long i = 0; i < codes.byteSize(); i++) {
                        codes.segment().set(java.lang.foreign.ValueLayout.JAVA_BYTE, i,
                                t.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 2 * i));
                    }
                    all.put(k, codes);
                    Tensor scale = Tensor.allocate(DType.F32, 1);
                    scale.segment().set(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 0, 0.02f);
                    all.put(k.replace(".weight", ".weight_scale"), scale);
                    all.put(k.replace(".weight", ".input_scale"), scale);
                } else {
                    all.put(k, t);
                }
            }
            ShardedCheckpointWriter.write(in, all, Long.MAX_VALUE, Map.of("format", "pt"));
        }
        String config = Files.readString(Fixtures.of("qwen3_moe").resolve("config.json")).strip();
        Files.writeString(in.resolve("config.json"), config.substring(0, config.length() - 1)
                + ", \"quantization_config\": {\"quant_method\": \"" + quantMethod + "\"}}");
        return in;
    }

    @Test
    void convertingFp8WithPerTensorScalesToAnotherDtypeIsRefusedNamingTheScale(@TempDir Path dir) throws Exception {
        Path in = perTensorFp8(dir, "compressed-tensors");
        Path out = dir.resolve("out");
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withDtype(DType.BF16)));
        assertTrue(e.problems().stream().anyMatch(p -> p.contains("experts.0.gate_proj.weight_scale")
                && p.contains("per-tensor")), e.getMessage());
        assertTrue(e.problems().stream().anyMatch(p -> p.contains("input_scale") && p.contains("activation")),
                e.getMessage());
        assertFalse(Files.exists(out));
    }

    @Test
    void keptFp8ExpertsKeepEveryScaleAndComeBackByteForByte(@TempDir Path dir) throws Exception {
        Path in = perTensorFp8(dir, "compressed-tensors");
        InspectReport report = MoeConvert.inspect(in);
        assertTrue(report.quantization().stream().anyMatch(q -> q.format().contains("weight_scale")),
                report.quantization().toString());
        Path out = dir.resolve("out");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withRanks(RankSelection.all(3)));
        try (Checkpoint g = Checkpoint.open(out.resolve("ep-rank-0"))) {
            assertEquals(DType.F8_E4M3, g.entry("model.layers.0.mlp.experts.gate_and_up_projs").dtype());
        }
        MoeConvert.toHf(ToHfRequest.of(List.of(out), dir.resolve("back")));
        CheckpointFiles.assertSameTensors(in, dir.resolve("back"));
    }

    @Test
    void anUnknownQuantMethodIsRefusedBeforeAnythingIsWritten(@TempDir Path dir) throws Exception {
        Path in = perTensorFp8(dir, "gptq");
        Path out = dir.resolve("out");
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> MoeConvert.toGrouped(ToGroupedRequest.of(in, out)));
        assertTrue(e.getMessage().contains("quant_method 'gptq'"), e.getMessage());
        assertFalse(MoeConvert.inspect(in).valid());
        assertFalse(Files.exists(out));
    }
}
