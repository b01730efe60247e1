package dev.moeshard.benchmarks;

import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import java.util.ArrayList;
import java.util.List;

/**
 * The tensors of a Kimi-K2 checkpoint as it ships (DeepSeek-V3's architecture under {@code model_type} kimi_k2): 61
 * layers, the first dense, the other 60 with 384 routed experts and one shared expert; multi-head latent attention
 * ({@code q_a_proj}, {@code q_b_proj}, {@code kv_a_proj_with_mqa}, {@code kv_b_proj}, {@code o_proj} and their
 * layernorms); every projection FP8 E4M3 with F32 {@code weight_scale_inv} over 128×128 blocks; embeddings, norms, the
 * router and lm_head in BF16, the router's correction bias in F32.
 *
 * <p>For {@link ScaleSimulation}: names, dtypes and shapes only, in the order the checkpoint lists them (per layer,
 * attention, then the MLP; each FP8 weight followed by its scales).
 */
final class KimiK2Shape {
    static final int LAYERS = 61;
    static final int DENSE_LAYERS = 1;
    static final int EXPERTS = 384;
    static final long HIDDEN = 7168;
    static final long MOE_INTERMEDIATE = 2048;
    static final long INTERMEDIATE = 18432;
    static final long VOCAB = 163_840;
    static final long HEADS = 64;
    static final long Q_LORA_RANK = 1536;
    static final long KV_LORA_RANK = 512;
    static final long QK_NOPE_HEAD_DIM = 128;
    static final long QK_ROPE_HEAD_DIM = 64;
    static final long V_HEAD_DIM = 128;
    static final long BLOCK = 128;

    private KimiK2Shape() {}

    /** Every tensor of the checkpoint, in order. */
    static List<TensorSpec> tensors() {
        List<TensorSpec> specs = new ArrayList<>();
        specs.add(bf16("model.embed_tokens.weight", VOCAB, HIDDEN));
        for (int l = 0; l < LAYERS; l++) {
            String p = "model.layers." + l + ".";
            specs.add(bf16(p + "input_layernorm.weight", HIDDEN));
            String a = p + "self_attn.";
            fp8(specs, a + "q_a_proj.weight", Q_LORA_RANK, HIDDEN);
            specs.add(bf16(a + "q_a_layernorm.weight", Q_LORA_RANK));
            fp8(specs, a + "q_b_proj.weight", HEADS * (QK_NOPE_HEAD_DIM + QK_ROPE_HEAD_DIM), Q_LORA_RANK);
            fp8(specs, a + "kv_a_proj_with_mqa.weight", KV_LORA_RANK + QK_ROPE_HEAD_DIM, HIDDEN);
            specs.add(bf16(a + "kv_a_layernorm.weight", KV_LORA_RANK));
            fp8(specs, a + "kv_b_proj.weight", HEADS * (QK_NOPE_HEAD_DIM + V_HEAD_DIM), KV_LORA_RANK);
            fp8(specs, a + "o_proj.weight", HIDDEN, HEADS * V_HEAD_DIM);
            specs.add(bf16(p + "post_attention_layernorm.weight", HIDDEN));
            String m = p + "mlp.";
            if (l < DENSE_LAYERS) {
                mlp(specs, m, INTERMEDIATE);
                continue;
            }
            specs.add(bf16(m + "gate.weight", EXPERTS, HIDDEN));
            specs.add(new TensorSpec(m + "gate.e_score_correction_bias", DType.F32, new long[] {EXPERTS}));
            for (int e = 0; e < EXPERTS; e++) {
                mlp(specs, m + "experts." + e + ".", MOE_INTERMEDIATE);
            }
            mlp(specs, m + "shared_experts.", MOE_INTERMEDIATE);
        }
        specs.add(bf16("model.norm.weight", HIDDEN));
        specs.add(bf16("lm_head.weight", VOCAB, HIDDEN));
        return specs;
    }

    /** config.json: the architecture's sizes and the FP8 block quantization it ships with. */
    static String config() {
        return """
                {
                  "architectures": ["DeepseekV3ForCausalLM"],
                  "model_type": "kimi_k2",
                  "hidden_size": %d,
                  "intermediate_size": %d,
                  "moe_intermediate_size": %d,
                  "n_routed_experts": %d,
                  "n_shared_experts": 1,
                  "num_experts_per_tok": 8,
                  "first_k_dense_replace": %d,
                  "moe_layer_freq": 1,
                  "num_hidden_layers": %d,
                  "num_nextn_predict_layers": 0,
                  "num_attention_heads": %d,
                  "num_key_value_heads": %d,
                  "q_lora_rank": %d,
                  "kv_lora_rank": %d,
                  "qk_nope_head_dim": %d,
                  "qk_rope_head_dim": %d,
                  "v_head_dim": %d,
                  "n_group": 1,
                  "topk_group": 1,
                  "norm_topk_prob": true,
                  "scoring_func": "sigmoid",
                  "topk_method": "noaux_tc",
                  "hidden_act": "silu",
                  "rms_norm_eps": 1e-06,
                  "tie_word_embeddings": false,
                  "vocab_size": %d,
                  "torch_dtype": "bfloat16",
                  "quantization_config": {
                    "activation_scheme": "dynamic",
                    "fmt": "e4m3",
                    "quant_method": "fp8",
                    "weight_block_size": [%d, %d]
                  }
                }
                """.formatted(HIDDEN, INTERMEDIATE, MOE_INTERMEDIATE, EXPERTS, DENSE_LAYERS, LAYERS, HEADS, HEADS,
                Q_LORA_RANK, KV_LORA_RANK, QK_NOPE_HEAD_DIM, QK_ROPE_HEAD_DIM, V_HEAD_DIM, VOCAB, BLOCK, BLOCK);
    }

    private static void mlp(List<TensorSpec> specs, String prefix, long intermediate) {
        fp8(specs, prefix + "gate_proj.weight", intermediate, HIDDEN);
        fp8(specs, prefix + "up_proj.weight", intermediate, HIDDEN);
        fp8(specs, prefix + "down_proj.weight", HIDDEN, intermediate);
    }

    /** An FP8 weight [rows, cols] and its scales [⌈rows/128⌉, ⌈cols/128⌉]. */
    private static void fp8(List<TensorSpec> specs, String name, long rows, long cols) {
        specs.add(new TensorSpec(name, DType.F8_E4M3, new long[] {rows, cols}));
        specs.add(new TensorSpec(name.substring(0, name.length() - ".weight".length()) + ".weight_scale_inv",
                DType.F32, new long[] {Math.ceilDiv(rows, BLOCK), Math.ceilDiv(cols, BLOCK)}));
    }

    private static TensorSpec bf16(String name, long... shape) {
        return new TensorSpec(name, DType.BF16, shape);
    }
}
