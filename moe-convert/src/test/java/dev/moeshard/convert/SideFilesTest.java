package dev.moeshard.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moeshard.tensor.DType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Outputs a loader takes as they are: config.json rewritten for what was written, the other files beside it copied. */
class SideFilesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static Path withSideFiles(Path dir) throws Exception {
        Path in = Fixtures.copy("qwen3_moe", dir);
        Files.writeString(in.resolve("tokenizer.json"), "{\"version\": \"1.0\"}");
        Files.writeString(in.resolve("chat_template.jinja"), "{{ messages }}");
        Files.writeString(in.resolve("modeling_custom.py"), "# remote code\n");
        Files.writeString(in.resolve("pytorch_model.bin"), "old weights");
        Files.createDirectories(in.resolve("original"));
        return in;
    }

    @Test
    void everyNonWeightFileIsCopiedToEveryRankAndBackAndTheReportSaysSo(@TempDir Path dir) throws Exception {
        Path in = withSideFiles(dir);
        Path grouped = dir.resolve("grouped");
        ConversionReport report = MoeConvert.toGrouped(ToGroupedRequest.of(in, grouped).withRanks(RankSelection.all(2)));
        for (String rank : List.of("ep-rank-0", "ep-rank-1")) {
            for (String f : List.of("tokenizer.json", "chat_template.jinja", "modeling_custom.py", "generation_config.json")) {
                assertEquals(Files.readString(in.resolve(f)), Files.readString(grouped.resolve(rank).resolve(f)), f);
            }
            assertFalse(Files.exists(grouped.resolve(rank).resolve("pytorch_model.bin")));
        }
        assertTrue(report.decisions().stream().anyMatch(d -> d.contains("tokenizer.json")), report.decisions().toString());
        assertTrue(report.decisions().stream().anyMatch(d -> d.contains("pytorch_model.bin (weights in another format")
                && d.contains("original (a folder)")), report.decisions().toString());
        Path back = dir.resolve("back");
        MoeConvert.toHf(ToHfRequest.of(List.of(grouped), back));
        assertEquals(Files.readString(in.resolve("tokenizer.json")), Files.readString(back.resolve("tokenizer.json")));
        assertFalse(Files.exists(back.resolve("moeshard.json")), "the manifest is the grouped checkpoint's, not copied");
    }

    @Test
    void theConfigNamesTheDtypeWrittenAndLosesQuantizationWhenNothingStaysFp8(@TempDir Path dir) throws Exception {
        Path in = Fixtures.copy("qwen3_moe", dir);
        String config = Files.readString(in.resolve("config.json")).strip();
        Files.writeString(in.resolve("config.json"), config.substring(0, config.length() - 1)
                + ", \"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [128, 128]}}");
        Path out = dir.resolve("out");
        MoeConvert.toGrouped(ToGroupedRequest.of(in, out).withDtype(DType.F32));
        JsonNode written = JSON.readTree(out.resolve("config.json").toFile());
        assertFalse(written.has("quantization_config"), written.toString());
        assertEquals("float32", written.has("torch_dtype") ? written.get("torch_dtype").asText() : written.get("dtype").asText());
        assertEquals(JSON.readTree(in.resolve("config.json").toFile()).get("hidden_size"), written.get("hidden_size"));

        Path quantized = dir.resolve("quantized");
        MoeConvert.toHf(ToHfRequest.of(List.of(out), quantized).withQuantization(Quantization.FP8_BLOCK128));
        JsonNode q = JSON.readTree(quantized.resolve("config.json").toFile()).get("quantization_config");
        assertEquals("fp8", q.get("quant_method").asText());
        assertEquals(128, q.get("weight_block_size").get(0).asInt());
    }
}
