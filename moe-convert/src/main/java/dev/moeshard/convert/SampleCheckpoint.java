package dev.moeshard.convert;

import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A small per-expert MoE checkpoint made from nothing, for demos and tests: Qwen3-MoE key names, BF16, random weights
 * from a fixed seed, the non-expert tensors a real model has beside its experts (embeddings, norms, attention, the
 * router), and its config.json. Each expert's {@code gate_proj} and {@code up_proj} are [I, H], {@code down_proj}
 * [H, I].
 */
public record SampleCheckpoint(int layers, int experts, int hidden, int intermediate) {

    static final String PREFIX = "model.layers.";

    /**
     * Writes the checkpoint into {@code directory} (created) as shards of at most {@code maxShardBytes} with their
     * index, and its config.json; the same {@code seed} gives the same bytes.
     */
    public void write(Path directory, long seed, long maxShardBytes) {
        ShardedCheckpointWriter.write(directory, tensors(seed), maxShardBytes, Map.of("format", "pt"));
        try {
            Files.writeString(directory.resolve("config.json"), configJson());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + directory.resolve("config.json") + ": " + e.getMessage(), e);
        }
    }

    /** The tensors it holds. */
    public int tensorCount() {
        return 1 + layers * (3 + 3 * experts) + 2;
    }

    String expertKey(int layer, int expert, String projection) {
        return PREFIX + layer + ".mlp.experts." + expert + "." + projection + ".weight";
    }

    /** Every tensor of the checkpoint, in the order a HuggingFace save writes them. */
    Map<String, Tensor> tensors(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        Map<String, Tensor> out = new LinkedHashMap<>();
        out.put("model.embed_tokens.weight", random(random, 512, hidden));
        for (int l = 0; l < layers; l++) {
            String layer = PREFIX + l + ".";
            out.put(layer + "input_layernorm.weight", random(random, hidden));
            out.put(layer + "self_attn.q_proj.weight", random(random, hidden, hidden));
            out.put(layer + "mlp.gate.weight", random(random, experts, hidden));
            for (int e = 0; e < experts; e++) {
                out.put(expertKey(l, e, "gate_proj"), random(random, intermediate, hidden));
                out.put(expertKey(l, e, "up_proj"), random(random, intermediate, hidden));
                out.put(expertKey(l, e, "down_proj"), random(random, hidden, intermediate));
            }
        }
        out.put("model.norm.weight", random(random, hidden));
        out.put("lm_head.weight", random(random, 512, hidden));
        return out;
    }

    /** The config.json a HuggingFace save writes beside the weights, with the sizes the conversion needs. */
    String configJson() {
        return "{\n  \"model_type\": \"qwen3_moe\",\n  \"num_experts\": " + experts
                + ",\n  \"hidden_size\": " + hidden + ",\n  \"moe_intermediate_size\": " + intermediate
                + ",\n  \"num_hidden_layers\": " + layers + ",\n  \"hidden_act\": \"silu\"\n}\n";
    }

    private static Tensor random(SplittableRandom random, long... sizes) {
        Tensor t = Tensor.allocate(DType.BF16, sizes);
        MemorySegment bytes = t.segment();
        for (long i = 0; i + 1 < bytes.byteSize(); i += 2) {
            // Small normal-ish weights as BF16: the top half of an F32.
            float v = (float) (random.nextGaussian() * 0.02);
            bytes.set(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) (Float.floatToRawIntBits(v) >>> 16));
        }
        return t;
    }
}
