#!/usr/bin/env bash
# Builds and runs transpose_ceiling.c (see its header): what native code reaches for one-thread merge orders on this
# machine, as ratios to the C library's memcpy. Needs gcc and an AVX-512 CPU (x86-64).
#
#   benchmarks/probes/native/run.sh [E H I [ROUNDS]]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../target/probes"
mkdir -p "$out"
gcc -O3 -march=native -o "$out/transpose_ceiling" "$here/transpose_ceiling.c"
exec "$out/transpose_ceiling" "$@"
