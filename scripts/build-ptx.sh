#!/usr/bin/env bash
# Regenerates the PTX of moeshard's CUDA kernels from their sources with nvcc. The PTX is committed, so that the
# library needs no CUDA toolkit to build or run; the build compares it with a fresh nvcc output where nvcc exists.
# Usage: scripts/build-ptx.sh                   every kernel source, into its committed resource
#        scripts/build-ptx.sh OUTPUT_FILE       the copy kernels only, into OUTPUT_FILE
#        scripts/build-ptx.sh NAME OUTPUT_FILE  kernel source NAME (copy_kernels, mxfp4_kernels) into OUTPUT_FILE
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# NAME -> source and committed PTX, relative to the repository root.
declare -A sources=(
    [copy_kernels]=tensor-core/src/main/cuda/copy_kernels.cu
    [mxfp4_kernels]=moe-state-dict/src/main/cuda/mxfp4_kernels.cu
)
declare -A resources=(
    [copy_kernels]=tensor-core/src/main/resources/dev/moeshard/cuda/copy_kernels.ptx
    [mxfp4_kernels]=moe-state-dict/src/main/resources/dev/moeshard/moe/quant/mxfp4_kernels.ptx
)

compile() {
    # compute_80: Ampere and newer (A100, H100, H200) JIT-compile it for their own architecture.
    nvcc --ptx -arch=compute_80 -O3 -std=c++17 -o "$2" "$root/${sources[$1]}"
}

case $# in
    0) for name in "${!sources[@]}"; do compile "$name" "$root/${resources[$name]}"; done ;;
    1) compile copy_kernels "$1" ;;
    2) [ -n "${sources[$1]:-}" ] || { echo "unknown kernel source $1 (known: ${!sources[*]})" >&2; exit 2; }
       compile "$1" "$2" ;;
    *) echo "usage: $0 [[NAME] OUTPUT_FILE]" >&2; exit 2 ;;
esac
