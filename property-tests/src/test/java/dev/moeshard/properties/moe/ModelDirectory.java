package dev.moeshard.properties.moe;

import dev.moeshard.convert.DirectoryDeletion;
import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.properties.harness.Gen;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A random small {@link MoeModel} of a family the conversions tell from config.json, written as a HuggingFace
 * checkpoint directory: its per-expert state dict as safetensors shards of a random small size (with
 * {@code model.safetensors.index.json} when there are several), beside the config.json such a model's save writes.
 *
 * @param modelType the config.json {@code model_type}
 * @param inputShards how many safetensors files the checkpoint was split into
 * @param original the bytes of every tensor written, to compare conversions with
 */
record ModelDirectory(MoeModel model, String modelType, Path path, int inputShards, StateDictSnapshot original) {

    /** A model family: its model_type, its expert naming, and the config.json keys it states E and I under. */
    private record Family(String modelType, ExpertNaming naming, String expertsKey, String interKey,
                          boolean neverGated) {}

    private static final List<Family> FAMILIES = List.of(
            new Family("qwen3_moe", ExpertNaming.DEFAULT, "num_experts", "moe_intermediate_size", false),
            new Family("qwen2_moe", ExpertNaming.DEFAULT, "num_experts", "moe_intermediate_size", false),
            new Family("deepseek_v3", ExpertNaming.DEFAULT, "n_routed_experts", "moe_intermediate_size", false),
            new Family("olmoe", ExpertNaming.DEFAULT, "num_experts", "intermediate_size", false),
            new Family("mixtral", ExpertNaming.MIXTRAL, "num_local_experts", "intermediate_size", false),
            // Nemotron-H's experts are ReLU², never gated: up_proj and down_proj only.
            new Family("nemotron_h", ExpertNaming.NEMOTRON_H, "n_routed_experts", "moe_intermediate_size", true));

    static final List<DType> DTYPES = List.of(DType.BF16, DType.F32);

    /** A random model, written under {@code dir} (created). */
    static ModelDirectory write(Gen gen, Path dir) {
        Family family = gen.oneOf(FAMILIES);
        int experts = gen.chance(0.7) ? gen.upTo(1, 10) : gen.between(1, 10);
        long hidden = gen.chance(0.7) ? gen.upTo(1, 40) : gen.between(1, 40);
        long inter = gen.chance(0.7) ? gen.upTo(1, 40) : gen.between(1, 40);
        boolean gated = !family.neverGated() && gen.chance(0.7);
        MoeModel model = new MoeModel(new MoeConfig(experts, hidden, inter, gated), family.naming(),
                gen.oneOf(MoeModel.PREFIXES), gen.between(1, 3), gen.oneOf(DTYPES));
        Map<String, Tensor> hf = model.hf(gen);
        long total = hf.values().stream().mapToLong(Tensor::byteSize).sum();
        // Often several shards: a maximum of a fraction of the whole (a tensor larger than it gets a shard of its own).
        long maxShard = gen.chance(0.3) ? Long.MAX_VALUE : Math.max(1, total / gen.between(1, 8));
        ShardedCheckpointWriter.write(dir, hf, maxShard, Map.of("format", "pt"));
        try {
            Files.writeString(dir.resolve("config.json"), configJson(gen, family, model));
            int shards;
            try (var files = Files.list(dir)) {
                shards = (int) files.filter(p -> p.getFileName().toString().endsWith(".safetensors")).count();
            }
            return new ModelDirectory(model, family.modelType(), dir, shards, StateDictSnapshot.of(hf));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The config.json of {@code model}: model_type, E and I under the family's keys, H, the layer count, and the
     * activation that tells gated (SiLU) from not (ReLU²); families whose MoE size has a key of its own also state a
     * dense {@code intermediate_size} that the conversion must not take for I.
     */
    private static String configJson(Gen gen, Family family, MoeModel model) {
        StringBuilder json = new StringBuilder("{\n");
        json.append("  \"model_type\": \"").append(family.modelType()).append("\",\n");
        json.append("  \"").append(family.expertsKey()).append("\": ").append(model.experts()).append(",\n");
        json.append("  \"hidden_size\": ").append(model.hidden()).append(",\n");
        json.append("  \"").append(family.interKey()).append("\": ").append(model.inter()).append(",\n");
        if (family.interKey().equals("moe_intermediate_size")) {
            json.append("  \"intermediate_size\": ").append(gen.between(1, 200)).append(",\n");
        }
        json.append("  \"num_hidden_layers\": ").append(model.layers()).append(",\n");
        json.append("  \"num_experts_per_tok\": ").append(Math.min(2, model.experts())).append(",\n");
        String act = model.config().gated() ? "silu" : "relu2";
        json.append("  \"").append(family.neverGated() ? "mlp_hidden_act" : "hidden_act").append("\": \"")
                .append(act).append("\",\n");
        json.append("  \"torch_dtype\": \"").append(model.dtype() == DType.BF16 ? "bfloat16" : "float32")
                .append("\"\n}\n");
        return json.toString();
    }

    @Override
    public String toString() {
        return modelType + ": " + model + ", " + inputShards + " input shard(s)";
    }

    /** Deletes {@code root} and everything under it, so that a long run of cases keeps the disk small. */
    static void delete(Path root) {
        try {
            DirectoryDeletion.deleteRecursively(root);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + root + ": " + e.getMessage(), e);
        }
    }
}
