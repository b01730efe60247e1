#!/usr/bin/env bash
# Regenerates the PTX of the CUDA copy kernels from their source with nvcc. The PTX is committed, so that the
# library needs no CUDA toolkit to build or run; the build compares it with a fresh nvcc output where nvcc exists.
# Usage: scripts/build-ptx.sh [OUTPUT_FILE]   (default: the committed resource)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/tensor-core/src/main/cuda/copy_kernels.cu"
out="${1:-$root/tensor-core/src/main/resources/dev/moeshard/cuda/copy_kernels.ptx}"
# compute_80: Ampere and newer (A100, H100, H200) JIT-compile it for their own architecture.
nvcc --ptx -arch=compute_80 -O3 -std=c++17 -o "$out" "$src"
