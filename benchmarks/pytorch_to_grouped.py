"""The peer of `moeshard to-grouped` for the end-to-end yardstick: the same file-to-file job in PyTorch.

    python3 pytorch_to_grouped.py IN_DIR OUT_DIR

Reads a per-expert checkpoint (safetensors shards with model.safetensors.index.json, or one model.safetensors) and
writes the grouped one moeshard writes by default (deepep layout: `{seg}.gate_and_up_projs` [E, H, 2I] =
cat(gateᵀ, upᵀ, -1), `{seg}.down_projs` [E, I, H] = downᵀ, everything else as it is), one output shard per input
shard, each file fsynced as moeshard does. torch uses every core (torch.get_num_threads()). Prints the wall time.
"""
import json
import os
import re
import sys
import time

import torch
from safetensors import safe_open
from safetensors.torch import save_file

EXPERT = re.compile(r"^(.*\.experts)\.(\d+)\.(gate_proj|up_proj|down_proj)\.weight$")


def shards(directory):
    index = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            return sorted(set(json.load(f)["weight_map"].values()))
    return ["model.safetensors"]


def convert_shard(path):
    out = {}
    experts = {}
    with safe_open(path, framework="pt") as f:
        for key in f.keys():
            m = EXPERT.match(key)
            if m:
                experts.setdefault(m.group(1), {}).setdefault(int(m.group(2)), {})[m.group(3)] = key
            else:
                out[key] = f.get_tensor(key)
        for segment, by_expert in experts.items():
            ids = sorted(by_expert)
            gate_up = torch.stack([torch.cat([f.get_tensor(by_expert[e]["gate_proj"]).t(),
                                              f.get_tensor(by_expert[e]["up_proj"]).t()], dim=1) for e in ids])
            down = torch.stack([f.get_tensor(by_expert[e]["down_proj"]).t() for e in ids])
            out[segment + ".gate_and_up_projs"] = gate_up.contiguous()
            out[segment + ".down_projs"] = down.contiguous()
    return out


def main(src, dst):
    start = time.perf_counter()
    os.makedirs(dst, exist_ok=True)
    for name in shards(src):
        target = os.path.join(dst, name)
        save_file(convert_shard(os.path.join(src, name)), target, metadata={"format": "pt"})
        fd = os.open(target, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    print(f"pytorch to-grouped {src} -> {dst}: {time.perf_counter() - start:.2f} s, {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
