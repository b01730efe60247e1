#!/usr/bin/env python3
"""Checks, with transformers' own Llama-4 experts, the orientation moeshard reads Llama-4's fused experts in.

    python3 scripts/check-llama4-orientation.py FIXTURE_DIR

Loads the fixture with transformers, runs layer 0's experts module on random tokens (each expert on its own group),
and compares the result with the formula moeshard assumes for gate_up_proj [E, H, 2I] (gate columns first) and
down_proj [E, I, H]: y_e = (act(x_e @ gu_e[:, :I]) * (x_e @ gu_e[:, I:])) @ down_e. Prints the relative error.
"""
import sys

import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

path = sys.argv[1]
model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32)
experts = model.model.layers[0].feed_forward.experts
print("experts module:", type(experts).__name__, {n: tuple(p.shape) for n, p in experts.named_parameters()})
with safe_open(f"{path}/model.safetensors", "pt") as f:
    gu = f.get_tensor("model.layers.0.feed_forward.experts.gate_up_proj").float()
    down = f.get_tensor("model.layers.0.feed_forward.experts.down_proj").float()
E, H, two_i = gu.shape
inter = two_i // 2
torch.manual_seed(0)
x = torch.randn(E * 3, H)
act = torch.nn.functional.silu
with torch.no_grad():
    try:
        y_model = experts(x)
    except TypeError as e:
        print("forward signature differs:", e)
        raise
    xe = x.view(E, 3, H)
    y_ref = torch.bmm(act(torch.bmm(xe, gu[:, :, :inter])) * torch.bmm(xe, gu[:, :, inter:]), down).view(E * 3, H)
    err = (y_model - y_ref).norm() / y_ref.norm()
    swapped = torch.bmm(act(torch.bmm(xe, gu[:, :, inter:])) * torch.bmm(xe, gu[:, :, :inter]), down).view(E * 3, H)
    print(f"relative error, gate columns first: {err.item():.2e}; gate columns second: "
          f"{((y_model - swapped).norm() / swapped.norm()).item():.2e}")
