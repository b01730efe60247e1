"""PyTorch's side of moeshard's GPU measurements, run on the same machine in the same invocation.

  python3 gpu_compare.py generate DIR [LAYERS E H I]  write a per-expert Qwen3-MoE-style BF16 checkpoint + config.json
  python3 gpu_compare.py merge [E H I REPS]           per-expert device tensors -> grouped, stack/cat/transpose,
                                                       beside a device-to-device copy of the same bytes
  python3 gpu_compare.py e2e DIR [REPS]               safetensors load + .cuda() + stack of every layer's experts
"""
import json
import os
import sys
import time

import torch


def generate(directory, layers=4, experts=128, hidden=2048, inter=768):
    from safetensors.torch import save_file

    os.makedirs(directory, exist_ok=True)
    weight_map = {}
    total = 0
    g = torch.Generator(device="cuda").manual_seed(1234)
    for layer in range(layers):
        tensors = {}
        for e in range(experts):
            p = f"model.layers.{layer}.mlp.experts.{e}."
            tensors[p + "gate_proj.weight"] = torch.randn(inter, hidden, generator=g, device="cuda").bfloat16().cpu()
            tensors[p + "up_proj.weight"] = torch.randn(inter, hidden, generator=g, device="cuda").bfloat16().cpu()
            tensors[p + "down_proj.weight"] = torch.randn(hidden, inter, generator=g, device="cuda").bfloat16().cpu()
        tensors[f"model.layers.{layer}.mlp.gate.weight"] = torch.randn(experts, hidden).bfloat16()
        name = f"model-{layer + 1:05d}-of-{layers:05d}.safetensors"
        save_file(tensors, os.path.join(directory, name), metadata={"format": "pt"})
        for k, v in tensors.items():
            weight_map[k] = name
            total += v.numel() * v.element_size()
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump({"model_type": "qwen3_moe", "num_experts": experts, "hidden_size": hidden,
                   "moe_intermediate_size": inter, "num_hidden_layers": layers, "hidden_act": "silu"}, f)
    print(f"generated {directory}: {layers} layers x {experts} experts, {total / 1e9:.2f} GB")


def timed(fn, reps):
    best = float("inf")
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1e3)
    return best


def merge(experts=128, hidden=2048, inter=768, reps=10):
    gates = [torch.randn(inter, hidden, device="cuda").bfloat16() for _ in range(experts)]
    ups = [torch.randn(inter, hidden, device="cuda").bfloat16() for _ in range(experts)]
    downs = [torch.randn(hidden, inter, device="cuda").bfloat16() for _ in range(experts)]

    def run():
        gu = torch.stack([torch.cat([g.t(), u.t()], dim=1) for g, u in zip(gates, ups)])
        dn = torch.stack([d.t() for d in downs]).contiguous()
        return gu, dn

    nbytes = 3 * experts * hidden * inter * 2
    a = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    t_merge = timed(run, reps)
    t_copy = timed(lambda: b.copy_(a), reps)
    print(f"pytorch {torch.__version__} on {torch.cuda.get_device_name(0)}: merge E={experts} H={hidden} I={inter} "
          f"BF16: {nbytes / t_merge / 1e9:.0f} GB/s; device-to-device copy: {nbytes / t_copy / 1e9:.0f} GB/s; "
          f"ratio {t_copy / t_merge:.2f}")


def e2e(directory, reps=3):
    from safetensors.torch import load_file

    with open(os.path.join(directory, "model.safetensors.index.json")) as f:
        files = sorted(set(json.load(f)["weight_map"].values()))
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        grouped = {}
        for name in files:
            sd = load_file(os.path.join(directory, name))
            layers = sorted({k.split(".")[2] for k in sd if ".experts." in k}, key=int)
            for layer in layers:
                p = f"model.layers.{layer}.mlp.experts."
                count = len([k for k in sd if k.startswith(p) and k.endswith("gate_proj.weight")])
                gu = torch.stack([torch.cat([sd[f"{p}{e}.gate_proj.weight"].cuda().t(),
                                             sd[f"{p}{e}.up_proj.weight"].cuda().t()], dim=1) for e in range(count)])
                dn = torch.stack([sd[f"{p}{e}.down_proj.weight"].cuda().t() for e in range(count)]).contiguous()
                grouped[p + "gate_and_up_projs"] = gu
                grouped[p + "down_projs"] = dn
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    nbytes = sum(t.numel() * t.element_size() for t in grouped.values())
    print(f"pytorch end to end: {directory} -> grouped experts on the GPU: {best:.3f} s "
          f"({nbytes / 1e6:.0f} MB of experts, {nbytes / best / 1e9:.1f} GB/s)")


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "generate":
        generate(rest[0], *map(int, rest[1:]))
    elif command == "merge":
        merge(*map(int, rest))
    elif command == "e2e":
        e2e(rest[0], *map(int, rest[1:]))
    else:
        sys.exit(__doc__)
