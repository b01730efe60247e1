package dev.moeshard.benchmarks;

import dev.moeshard.safetensors.ShardLayout;
import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes a synthetic per-expert qwen3_moe checkpoint of realistic shape for the end-to-end measurement
 * (benchmarks/e2e_to_grouped.sh): for each layer attention projections, norms, a router [E, H] and E experts of
 * gate, up [I, H] and down [H, I]; embeddings and lm_head around them; config.json beside the shards.
 *
 * <p>Values are pseudo-random bits, not zeros: a file of zeros could be sparse on disk or compress in the page cache
 * layer of some file systems, which would flatter both {@code cp -r} and the conversion.
 *
 * <pre>
 * java -cp benchmarks/target/moeshard-benchmarks.jar dev.moeshard.benchmarks.GenerateCheckpoint \
 *     DIR [LAYERS=8 EXPERTS=64 HIDDEN=2048 INTERMEDIATE=768]
 * </pre>
 */
public final class GenerateCheckpoint {
    private static final long VOCAB = 32_000;
    private static final long MAX_SHARD_BYTES = 2L << 30;

    private GenerateCheckpoint() {}

    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: GenerateCheckpoint DIR [LAYERS EXPERTS HIDDEN INTERMEDIATE]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        int layers = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        int experts = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        long hidden = args.length > 3 ? Long.parseLong(args[3]) : 2048;
        long inter = args.length > 4 ? Long.parseLong(args[4]) : 768;
        if (Files.exists(dir)) {
            System.err.println(dir + " already exists");
            System.exit(2);
        }
        List<TensorSpec> specs = specs(layers, experts, hidden, inter);
        long seed = 0x9E3779B97F4A7C15L;
        try (ShardedCheckpointWriter out = ShardedCheckpointWriter.open(dir, ShardLayout.of(specs, MAX_SHARD_BYTES),
                Map.of("format", "pt"))) {
            for (TensorSpec s : specs) {
                seed = fill(out.tensor(s.name()).segment(), seed);
            }
            out.commit();
        }
        Files.writeString(dir.resolve("config.json"), config(layers, experts, hidden, inter));
        long bytes = specs.stream().mapToLong(TensorSpec::byteSize).sum();
        System.out.printf("wrote %s: %d layers, %d experts, H=%d, I=%d, BF16, %d tensors, %d bytes%n", dir, layers,
                experts, hidden, inter, specs.size(), bytes);
    }

    private static List<TensorSpec> specs(int layers, int experts, long hidden, long inter) {
        List<TensorSpec> specs = new ArrayList<>();
        specs.add(new TensorSpec("model.embed_tokens.weight", DType.BF16, new long[] {VOCAB, hidden}));
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            specs.add(new TensorSpec(p + "input_layernorm.weight", DType.BF16, new long[] {hidden}));
            for (String proj : List.of("q_proj", "k_proj", "v_proj", "o_proj")) {
                specs.add(new TensorSpec(p + "self_attn." + proj + ".weight", DType.BF16, new long[] {hidden, hidden}));
            }
            specs.add(new TensorSpec(p + "post_attention_layernorm.weight", DType.BF16, new long[] {hidden}));
            specs.add(new TensorSpec(p + "mlp.gate.weight", DType.BF16, new long[] {experts, hidden}));
            for (int e = 0; e < experts; e++) {
                String x = p + "mlp.experts." + e + ".";
                specs.add(new TensorSpec(x + "gate_proj.weight", DType.BF16, new long[] {inter, hidden}));
                specs.add(new TensorSpec(x + "up_proj.weight", DType.BF16, new long[] {inter, hidden}));
                specs.add(new TensorSpec(x + "down_proj.weight", DType.BF16, new long[] {hidden, inter}));
            }
        }
        specs.add(new TensorSpec("model.norm.weight", DType.BF16, new long[] {hidden}));
        specs.add(new TensorSpec("lm_head.weight", DType.BF16, new long[] {VOCAB, hidden}));
        return specs;
    }

    // xorshift64: fast enough that writing gigabytes is bounded by the page cache, not by the generator.
    private static long fill(MemorySegment segment, long seed) {
        long x = seed;
        long longs = segment.byteSize() / Long.BYTES;
        for (long i = 0; i < longs; i++) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            segment.setAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i, x);
        }
        for (long b = longs * Long.BYTES; b < segment.byteSize(); b++) {
            segment.set(ValueLayout.JAVA_BYTE, b, (byte) x);
        }
        return x;
    }

    private static String config(int layers, int experts, long hidden, long inter) {
        return """
                {
                  "architectures": ["Qwen3MoeForCausalLM"],
                  "model_type": "qwen3_moe",
                  "hidden_size": %d,
                  "moe_intermediate_size": %d,
                  "intermediate_size": %d,
                  "num_experts": %d,
                  "num_experts_per_tok": 8,
                  "num_hidden_layers": %d,
                  "vocab_size": %d,
                  "torch_dtype": "bfloat16"
                }
                """.formatted(hidden, inter, 4 * inter, experts, layers, VOCAB);
    }
}
