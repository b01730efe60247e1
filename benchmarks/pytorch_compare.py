#!/usr/bin/python3
"""PyTorch's half of the side-by-side with moeshard (see pytorch_compare.sh).

The jobs a user would write with torch on the CPU, on the sizes of issue 6, with 1 and 2 threads:
  merge       HF per-expert gate, up [I, H] and down [H, I] to gate_and_up_projs [E, H, 2I] (stack of cat of
              transposes) and down_projs [E, I, H] (stack of transposes), made .contiguous()
  split       grouped back to per-expert tensors, materialized (.t().contiguous() of each slice)
  bf16->f32   one projection of every expert, [E*I, H], .to(torch.float32)
each beside a memcpy-equivalent on the same threads: copy_ into a preallocated tensor of the same bytes. Prints
GB/s (bytes written per second) and the ratio to that memcpy; each figure is the median of the repetitions (each at least
0.1 s of back-to-back jobs) after 0.5 s of warm-up. torch allocates the outputs of merge and split (that is what the idiom does); moeshard writes into
preallocated or mapped storage, so the allocation is part of what is compared.

usage: pytorch_compare.py [ExHxI[,ExHxI...] [DTYPE[,DTYPE...] [THREADS[,THREADS...] [REPS]]]]
"""
import statistics
import sys
import time

import torch

DTYPES = {"BF16": torch.bfloat16, "F32": torch.float32}


def rate(nbytes, reps, job):
    # Small layers take microseconds: each repetition runs the job enough times to last 0.1 s, after 0.5 s of
    # warm-up, so that neither the clock nor a thread pool waking up decides the figure.
    start = time.perf_counter()
    runs = 0
    while runs == 0 or time.perf_counter() - start < 0.5:
        job()
        runs += 1
    per_run = (time.perf_counter() - start) / runs
    inner = max(1, int(0.1 / per_run))
    rates = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        for _ in range(inner):
            job()
        rates.append(nbytes * inner / (time.perf_counter_ns() - t0))
    return statistics.median(rates)


def report(what, job, gbps, memcpy):
    print(f"{what} {job:<10} {gbps:7.2f} GB/s  ratio {gbps / memcpy:.2f}", flush=True)


def filled(dtype, *sizes):
    # A pattern rather than zeros so that every page is touched before it is timed.
    return torch.rand(*sizes, dtype=torch.float32).to(dtype)


def main(argv):
    layers = (argv[1] if len(argv) > 1 else "128x2048x768,8x64x32").split(",")
    dtypes = (argv[2] if len(argv) > 2 else "BF16,F32").split(",")
    thread_counts = [int(t) for t in (argv[3] if len(argv) > 3 else "1,2").split(",")]
    reps = int(argv[4]) if len(argv) > 4 else 5
    for layer in layers:
        e, h, i = (int(x) for x in layer.split("x"))
        for name in dtypes:
            dtype = DTYPES[name]
            gate = [filled(dtype, i, h) for _ in range(e)]
            up = [filled(dtype, i, h) for _ in range(e)]
            down = [filled(dtype, h, i) for _ in range(e)]
            elem = torch.tensor([], dtype=dtype).element_size()
            nbytes = 3 * e * h * i * elem
            src = torch.ones(nbytes, dtype=torch.uint8)
            dst = torch.zeros(nbytes, dtype=torch.uint8)
            for threads in thread_counts:
                torch.set_num_threads(threads)
                what = f"pytorch  {torch.__version__:<9} {layer} {name:<4} threads={threads}"
                memcpy = rate(nbytes, reps, lambda: dst.copy_(src))
                report(what, "memcpy", memcpy, memcpy)

                def merge():
                    gu = torch.stack([torch.cat([g.t(), u.t()], dim=1) for g, u in zip(gate, up)]).contiguous()
                    dn = torch.stack([d.t() for d in down]).contiguous()
                    return gu, dn

                report(what, "merge", rate(nbytes, reps, merge), memcpy)
                gu, dn = merge()
                assert gu.shape == (e, h, 2 * i) and dn.shape == (e, i, h)

                def split():
                    return [(gu[x, :, :i].t().contiguous(), gu[x, :, i:].t().contiguous(), dn[x].t().contiguous())
                            for x in range(e)]

                report(what, "split", rate(nbytes, reps, split), memcpy)
                if name == "BF16":
                    projection = torch.cat(gate)  # [E*I, H]
                    out = torch.empty(e * i, h, dtype=torch.float32)
                    out_src = torch.ones(e * i, h, dtype=torch.float32)
                    f32_bytes = out.numel() * 4
                    memcpy_f32 = rate(f32_bytes, reps, lambda: out.copy_(out_src))
                    report(what, "memcpy-f32", memcpy_f32, memcpy_f32)
                    report(what, "bf16->f32", rate(f32_bytes, reps, lambda: projection.to(torch.float32)), memcpy_f32)


if __name__ == "__main__":
    main(sys.argv)
