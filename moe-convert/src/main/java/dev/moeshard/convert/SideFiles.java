package dev.moeshard.convert;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moeshard.moe.family.FamilyDetection;
import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.safetensors.AtomicReplace;
import dev.moeshard.safetensors.SafetensorsIndex;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * What goes beside the converted weights so that a loader takes the output as it is: config.json rewritten for what
 * was written, and every other file of the input folder that is not weights (tokenizer files, generation_config.json,
 * chat templates, remote-code {@code *.py}, README, LICENSE), copied and forced to disk.
 *
 * <p>The rewrite: {@code quantization_config} goes when no FP8 tensor was written (the experts were dequantized),
 * becomes the FP8 block config when the output was quantized, and is kept otherwise; {@code torch_dtype} /
 * {@code dtype} name the dtype most of the written floating-point bytes have.
 */
final class SideFiles {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** Weights of other formats, not converted and so not copied: a loader would take them for this model's. */
    private static final List<String> OTHER_WEIGHTS = List.of(".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5",
            ".msgpack", ".onnx");
    /** Files moeshard writes itself, or that describe the input's weights, never copied. */
    private static final List<String> OWN = List.of("config.json", GroupedManifest.FILE_NAME,
            SafetensorsIndex.FILE_NAME);

    private SideFiles() {}

    /** What was copied and what was left, one line each, for the report. */
    record Copied(List<String> copied, List<String> skipped) {
        List<String> decisions() {
            List<String> out = new ArrayList<>();
            if (!copied.isEmpty()) {
                out.add("copied beside the weights: " + String.join(", ", copied));
            }
            if (!skipped.isEmpty()) {
                out.add("not copied: " + String.join("; ", skipped));
            }
            return out;
        }
    }

    /**
     * Writes config.json (from {@code config}, rewritten for {@code written}) into {@code dir} and copies the other
     * non-weight files of {@code sourceDir}; {@code quantized} when the output's projections were quantized to FP8.
     */
    static Copied write(Path sourceDir, Optional<Path> config, Path dir, List<TensorSpec> written, boolean quantized)
            throws IOException {
        if (config.isPresent()) {
            ObjectNode json = (ObjectNode) FamilyDetection.readConfig(config.get());
            rewrite(json, written, quantized);
            AtomicReplace.write(dir.resolve("config.json"), JSON.writeValueAsBytes(json));
        }
        Copied chosen = choose(sourceDir);
        for (String name : chosen.copied()) {
            AtomicReplace.copy(sourceDir.resolve(name), dir.resolve(name));
        }
        return chosen;
    }

    /** The files beside the weights that a job writes, as a plan names them: config.json and the copies. */
    static List<String> planned(Path sourceDir, Optional<Path> config) {
        List<String> names = new ArrayList<>();
        if (config.isPresent()) {
            names.add("config.json");
        }
        try {
            names.addAll(choose(sourceDir).copied());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + sourceDir + ": " + e.getMessage(), e);
        }
        return names;
    }

    /** Which files of {@code sourceDir} are copied, and which are left with the reason. */
    private static Copied choose(Path sourceDir) throws IOException {
        List<String> copied = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        if (sourceDir == null || !Files.isDirectory(sourceDir)) {
            return new Copied(copied, skipped);
        }
        List<Path> entries;
        try (Stream<Path> list = Files.list(sourceDir)) {
            entries = list.sorted().toList();
        }
        for (Path p : entries) {
            String name = p.getFileName().toString();
            String lower = name.toLowerCase(Locale.ROOT);
            if (name.startsWith(".") || OWN.contains(name) || lower.endsWith(".safetensors")) {
                continue;
            }
            if (OTHER_WEIGHTS.stream().anyMatch(lower::endsWith)) {
                skipped.add(name + " (weights in another format, not converted)");
            } else if (!Files.isRegularFile(p)) {
                skipped.add(name + (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) ? " (a folder)" : " (not a regular file)"));
            } else {
                copied.add(name);
            }
        }
        return new Copied(copied, skipped);
    }

    private static void rewrite(ObjectNode json, List<TensorSpec> written, boolean quantized) {
        boolean anyFp8 = written.stream().anyMatch(s -> s.dtype().isFp8());
        if (quantized) {
            ObjectNode q = json.putObject("quantization_config");
            q.put("quant_method", "fp8");
            q.put("fmt", "e4m3");
            q.put("activation_scheme", "dynamic");
            ArrayNode block = q.putArray("weight_block_size");
            block.add(Fp8BlockDequantizer.BLOCK).add(Fp8BlockDequantizer.BLOCK);
        } else if (!anyFp8) {
            json.remove("quantization_config");
        }
        String dtype = dominantFloat(written);
        if (dtype != null) {
            boolean any = false;
            for (String key : List.of("torch_dtype", "dtype")) {
                if (json.has(key)) {
                    json.put(key, dtype);
                    any = true;
                }
            }
            if (!any) {
                json.put("dtype", dtype);
            }
        }
    }

    /** The torch name of the non-FP8 floating dtype that most written bytes have, or null when there is none. */
    private static String dominantFloat(List<TensorSpec> written) {
        Map<DType, Long> bytes = new HashMap<>();
        for (TensorSpec s : written) {
            if (s.dtype().isConvertible() && !s.dtype().isFp8()) {
                bytes.merge(s.dtype(), s.byteSize(), Long::sum);
            }
        }
        return bytes.entrySet().stream().max(Map.Entry.comparingByValue()).map(e -> switch (e.getKey()) {
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            case F32 -> "float32";
            case F64 -> "float64";
            default -> null;
        }).orElse(null);
    }
}
