"""The peer of `moeshard to-grouped` for the end-to-end yardstick: the same file-to-file job in PyTorch.

    python3 pytorch_to_grouped.py IN_DIR OUT_DIR

Reads a per-expert checkpoint (safetensors shards with model.safetensors.index.json, or one model.safetensors) and
writes the grouped one moeshard writes by default (deepep layout: `{seg}.gate_and_up_projs` [E, H, 2I] =
cat(gateᵀ, upᵀ, -1), `{seg}.down_projs` [E, I, H] = downᵀ, everything else as it is), in shards of about 4 GiB, each
file fsynced as moeshard does. torch uses every core (torch.get_num_threads()). Prints the wall time.
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


def main(src, dst, shard_bytes=4 << 30):
    """Every input shard open at once (an expert's projections may lie in two), the output in shards of about
    shard_bytes, each file fsynced once written."""
    start = time.perf_counter()
    os.makedirs(dst, exist_ok=True)
    files = [safe_open(os.path.join(src, name), framework="pt") for name in shards(src)]
    where, experts, others = {}, {}, []
    for f in files:
        for key in f.keys():
            where[key] = f
            m = EXPERT.match(key)
            if m:
                experts.setdefault(m.group(1), {}).setdefault(int(m.group(2)), {})[m.group(3)] = key
            else:
                others.append(key)
    pending, pending_bytes, written = {}, 0, []

    def add(key, tensor):
        nonlocal pending, pending_bytes
        pending[key] = tensor
        pending_bytes += tensor.numel() * tensor.element_size()
        if pending_bytes >= shard_bytes:
            flush()

    def flush():
        nonlocal pending, pending_bytes
        if not pending:
            return
        target = os.path.join(dst, f"model-{len(written) + 1:05d}.safetensors")
        save_file(pending, target, metadata={"format": "pt"})
        fd = os.open(target, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        written.append(target)
        pending, pending_bytes = {}, 0

    def get(key):
        return where[key].get_tensor(key)

    for segment, by_expert in experts.items():
        ids = sorted(by_expert)
        add(segment + ".gate_and_up_projs", torch.stack([torch.cat([get(by_expert[e]["gate_proj"]).t(),
                                                                     get(by_expert[e]["up_proj"]).t()], dim=1)
                                                          for e in ids]).contiguous())
        add(segment + ".down_projs", torch.stack([get(by_expert[e]["down_proj"]).t() for e in ids]).contiguous())
    for key in others:
        add(key, get(key))
    flush()
    print(f"pytorch to-grouped {src} -> {dst}: {len(written)} files in {time.perf_counter() - start:.2f} s, "
          f"{torch.get_num_threads()} threads")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
