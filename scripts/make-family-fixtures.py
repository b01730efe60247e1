#!/usr/bin/env python3
"""Writes a tiny checkpoint for each MoE family with transformers' own save_pretrained, for moeshard's tests.

    python3 scripts/make-family-fixtures.py OUT_DIR [MODEL_TYPE ...]

Each family gets OUT_DIR/<model_type>/ with config.json and model.safetensors as transformers 5 writes them
(random weights from a fixed seed, bfloat16), plus keys.json: every tensor's name, dtype and shape. Sizes are
shrunk to a few dozen so that every fixture stays small; a family this transformers cannot build is listed in
OUT_DIR/failed.json with the reason, and the others go on.
"""
import json
import sys
import traceback
from pathlib import Path

import torch
import transformers
from transformers import AutoConfig

FAMILIES = [
    "qwen2_moe", "qwen3_moe", "qwen3_next", "qwen3_5_moe", "qwen3_5_moe_text", "qwen3_vl_moe", "olmoe", "glm4_moe",
    "deepseek_v2", "deepseek_v3", "deepseek_v32", "kimi_k2", "mixtral", "minimax", "minimax_m2", "phimoe",
    "ernie4_5_moe", "dots1", "hunyuan_v1_moe", "longcat_flash", "llama4", "llama4_text", "granitemoe",
    "granitemoeshared", "nemotron_h", "gpt_oss",
]

# Every size a config may carry, and the tiny value it gets; a config without the attribute is left alone. No expert
# intermediate size is half the hidden size: fused [E, 2I, H] and [E, H, 2I] would then have one shape.
SMALL = {
    "vocab_size": 128, "hidden_size": 64, "intermediate_size": 96, "moe_intermediate_size": 24,
    "shared_expert_intermediate_size": 32, "moe_shared_expert_intermediate_size": 32, "expert_ffn_hidden_size": 32,
    "ffn_hidden_size": 32,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
    "num_experts": 8, "n_routed_experts": 8, "num_local_experts": 8, "moe_num_experts": 8,
    "num_experts_per_tok": 2, "moe_k": 2, "top_k": 2, "n_shared_experts": 1, "num_shared_experts": 1,
    "moe_num_shared_experts": 1, "first_k_dense_replace": 1, "n_group": 1, "topk_group": 1,
    "kv_lora_rank": 16, "q_lora_rank": 24, "qk_rope_head_dim": 8, "qk_nope_head_dim": 8, "v_head_dim": 16,
    "max_position_embeddings": 256, "linear_num_key_heads": 2, "linear_num_value_heads": 4,
    "linear_key_head_dim": 16, "linear_value_head_dim": 16, "full_attention_interval": 2,
    "mamba_num_heads": 4, "mamba_head_dim": 16, "ssm_state_size": 16, "n_groups": 1, "mamba_d_ssm": 64,
    "index_n_heads": 2, "index_head_dim": 16, "index_topk": 16, "zero_expert_num": 2, "num_layers": 2,
    "attention_chunk_size": 64, "interleave_moe_layer_step": 1, "sliding_window": 64,
    # vision towers of the multimodal families
    "depth": 2, "patch_size": 14, "image_size": 56, "out_hidden_size": 64, "num_heads": 4,
    "vision_output_dim": 64, "projector_input_dim": 64, "projector_output_dim": 64,
}


# Arguments a family's config is made with, where its defaults cannot simply be shrunk. They are passed to
# AutoConfig.for_model, so that the config derives what depends on them itself, and shrink leaves them alone.
CONFIG_ARGS = {
    # Nemotron-H's layers, one letter each (configuration_nemotron_h.py): M Mamba-2, E MoE (routed experts, non-gated
    # ReLU², beside one shared expert), * attention, - dense MLP. transformers 5 takes the string as the legacy
    # hybrid_override_pattern and keeps it as the list layers_block_type, in its own words for the layer kinds, with
    # num_hidden_layers derived from it; older versions keep the string and require its length to be
    # num_hidden_layers, so both are given. No Mamba kernels: the naive path runs anywhere, with no download.
    "nemotron_h": {"hybrid_override_pattern": "ME*-E", "num_hidden_layers": 5, "use_mamba_kernels": False},
}


def shrink(config, keep=()):
    for name, value in SMALL.items():
        if name in keep:
            continue
        # None too: a size left unset (dots1's, hunyuan's head_dim) would stay unset in the tiny model
        if hasattr(config, name) and (getattr(config, name) is None or isinstance(getattr(config, name), int)):
            try:
                setattr(config, name, value)
            except AttributeError:
                pass  # a derived property
    for sub in ("text_config", "vision_config", "language_config", "audio_config"):
        nested = getattr(config, sub, None)
        if nested is not None and not isinstance(nested, dict):
            shrink(nested)
    # Layer-type lists must match the shrunken layer count.
    for attr in ("layer_types", "mlp_layer_types", "mlp_only_layers"):
        if isinstance(getattr(config, attr, None), list) and getattr(config, attr):
            seq = getattr(config, attr)
            setattr(config, attr, seq[-config.num_hidden_layers:] if attr != "mlp_only_layers" else [])
    if hasattr(config, "moe_layer_freq") and isinstance(config.moe_layer_freq, int):
        config.moe_layer_freq = 1
    if hasattr(config, "decoder_sparse_step"):
        config.decoder_sparse_step = 1
    return config


def small_args(model_type, args):
    """The tiny sizes of every SMALL attribute the family's default config has, to build the config with: a config
    derives some fields from others when it is made (DeepSeek's head_dim from qk_rope_head_dim, LongCat-Flash's
    qk_head_dim), which setting them afterwards would leave at the defaults' values."""
    default = AutoConfig.for_model(model_type, **args)
    small = {name: value for name, value in SMALL.items() if name not in args and hasattr(default, name)
             and (getattr(default, name) is None or isinstance(getattr(default, name), int))}
    if hasattr(default, "kv_lora_rank"):
        # Multi-head latent attention (DeepSeek, LongCat-Flash): every query head has its own key, so there are as
        # many key/value heads as query heads (fewer would be repeated up to more than the queries), and the rotary
        # embedding spans qk_rope_head_dim, which the configs call head_dim.
        small["num_key_value_heads"] = small.get("num_attention_heads", SMALL["num_attention_heads"])
        small["head_dim"] = small.get("qk_rope_head_dim", SMALL["qk_rope_head_dim"])
    return small


def build(model_type):
    args = CONFIG_ARGS.get(model_type, {})
    small = small_args(model_type, args)
    # what the config was made with stays as the config made it: it may have derived a size from another
    config = shrink(AutoConfig.for_model(model_type, **small, **args), keep={**small, **args})
    reasons = []
    for auto in ("AutoModelForCausalLM", "AutoModelForImageTextToText", "AutoModel"):
        try:
            return config, getattr(transformers, auto).from_config(config, torch_dtype=torch.bfloat16)
        except (ValueError, KeyError) as e:
            reasons.append(f"{auto}: {type(e).__name__}: {e}")
    raise ValueError(f"no auto class builds {model_type}: " + "; ".join(reasons))


def main():
    out = Path(sys.argv[1])
    families = sys.argv[2:] or FAMILIES
    failed = {}
    for model_type in families:
        torch.manual_seed(1234)
        try:
            if model_type == "kimi_k2":
                # Kimi-K2 ships its own code on the Hub; its weights and config are DeepSeek-V3's under model_type
                # kimi_k2. The tiny one is a DeepSeek-V3 saved with that model_type.
                config, model = build("deepseek_v3")
            else:
                config, model = build(model_type)
            target = out / model_type
            model.save_pretrained(target, safe_serialization=True)
            if model_type == "kimi_k2":
                cfg = json.loads((target / "config.json").read_text())
                cfg["model_type"] = "kimi_k2"
                (target / "config.json").write_text(json.dumps(cfg, indent=2))
            from safetensors import safe_open
            keys = {}
            for f in sorted(target.glob("*.safetensors")):
                with safe_open(f, "pt") as st:
                    for k in st.keys():
                        t = st.get_slice(k)
                        keys[k] = [t.get_dtype(), list(t.get_shape())]
            (target / "keys.json").write_text(json.dumps(keys, indent=1))
            print(f"{model_type}: {type(model).__name__}, {len(keys)} tensors", flush=True)
        except Exception as e:  # one family's failure must not stop the others
            failed[model_type] = f"{type(e).__name__}: {e}"
            print(f"{model_type}: FAILED {failed[model_type]}", flush=True)
            traceback.print_exc(limit=3)
    (out / "failed.json").write_text(json.dumps(failed, indent=1))
    print("transformers", transformers.__version__, "torch", torch.__version__)


if __name__ == "__main__":
    main()
