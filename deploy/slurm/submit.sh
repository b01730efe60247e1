#!/usr/bin/env bash
# Submits a moeshard conversion as a Slurm job array of N workers and a finalize job that starts once all of them
# have succeeded (afterok), which checks every unit, writes the indexes, config and manifests and moves OUT into place.
#
#   N=32 IN=/shared/Kimi-K2 OUT=/shared/Kimi-K2-ep64 OPTIONS="--ep-size 64 --all-ranks --dtype keep-fp8" \
#     deploy/slurm/submit.sh [extra sbatch options, e.g. --partition=cpu]
#
# Should a task fail for good, the finalize job never starts (Slurm cancels it as its dependency cannot be met):
# resubmit the array (it skips the units done) and a new finalize, or run `moeshard finalize OUT` by hand to see
# which units are missing.
set -euo pipefail
: "${N:?set N, the number of array tasks}" "${IN:?set IN}" "${OUT:?set OUT}"
here="$(cd "$(dirname "$0")" && pwd)"
moeshard="${MOESHARD:-$here/../../moeshard}"
export IN OUT OPTIONS MOESHARD="$moeshard"
array=$(sbatch --parsable --array=0-$((N - 1)) --export=ALL "$@" "$here/convert.sbatch")
echo "workers: job array $array (tasks 0-$((N - 1)))"
final=$(sbatch --parsable --dependency=afterok:"$array" --job-name=moeshard-finalize --export=ALL "$@" \
  --wrap="$moeshard finalize '$OUT'")
echo "finalize: job $final, after every task of $array succeeds"
