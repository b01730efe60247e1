#!/usr/bin/env bash
# Builds merge_variants beside this script: sm_90 machine code plus compute_90 PTX, which newer drivers and chips
# compile at load time.
set -euo pipefail
cd "$(dirname "$0")"
nvcc -O3 -arch=sm_90 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
    -o merge_variants merge_variants.cu
