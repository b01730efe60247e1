#!/usr/bin/env bash
# The end-to-end yardstick of `moeshard to-grouped`, every ratio in one run, warm and cold, with peak RSS:
#   to-grouped             against `cp -r` of the same directory followed by `sync` (moeshard fsyncs its output, cp
#                          does not), from a warm page cache and from a cold one (caches dropped; needs root);
#   to-grouped --device D  for each device of DEVICES, against the CPU run;
#   the disk's floor       writing as many bytes straight to the disk (benchmarks/disk_floor.py), and cold, reading the
#                          input at the same time: what no file-to-file job on this disk can beat;
#   PyTorch                the same file-to-file job (benchmarks/pytorch_to_grouped.py), where torch and safetensors
#                          import.
# Each job runs REPS times per state, alternating with the others; the best time of each is compared, and the peak RSS
# shown is the largest seen. A generated per-expert Qwen3-MoE-shaped BF16 checkpoint is used unless CKPT names one.
#
#   benchmarks/e2e_to_grouped.sh [WORKDIR=/tmp/moeshard-e2e] [LAYERS=8] [EXPERTS=64] [HIDDEN=2048] [INTERMEDIATE=768]
#   env: CKPT=DIR  REPS=2  COLD=1|0  DEVICES="cpu" (e.g. "cpu cuda")  PEER=1|0  KEEP=1 (keep the data)
#        MOESHARD_JAVA_OPTS="-D..." (JVM options of the moeshard runs, as the moeshard launcher takes them)
#
# The same script runs from the repository (it builds what it needs) and from the GPU bundle (scripts/gpu-bundle.sh
# ships it as run-e2e.sh beside a Java runtime and the jars).
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
work="${1:-/tmp/moeshard-e2e}"; layers="${2:-8}"; experts="${3:-64}"; hidden="${4:-2048}"; inter="${5:-768}"
reps="${REPS:-2}"; devices="${DEVICES:-cpu}"

if [ -x "$here/jre/bin/java" ]; then # the GPU bundle
  java="$here/jre/bin/java"; cli="$here/moeshard-cli.jar"; bench_cp="$(ls "$here"/lib/*.jar | tr '\n' ':')"
  scripts="$here"
else
  root="$(cd "$here/.." && pwd)"
  . "$root/scripts/find-jdk25.sh"
  java="$JAVA_HOME/bin/java"; cli="$root/cli/target/moeshard-cli.jar"; bench_cp="$root/benchmarks/target/moeshard-benchmarks.jar"
  scripts="$here"
  if [ ! -f "$bench_cp" ] || [ ! -f "$cli" ]; then
    (cd "$root" && ./mvnw -B -ntp -q -DskipTests -Dmaven.javadoc.skip=true -Dmaven.source.skip=true install)
  fi
fi
flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED ${MOESHARD_JAVA_OPTS:-})
if [ -f "$here/libcudart.so" ] && ! ldconfig -p 2>/dev/null | grep -q 'libcudart\.so'; then
  flags+=("-Dmoeshard.cuda.library=$here/libcudart.so") # the bundle's copy, where the system has none
fi

mkdir -p "$work"
in="${CKPT:-$work/hf}"; copy="$work/hf-copy"; out="$work/grouped"
cleanup() { rm -rf "$copy" "$out"; [ -n "${CKPT:-}" ] || [ "${KEEP:-0}" = 1 ] || rm -rf "$in"; }
trap cleanup EXIT
if [ -z "${CKPT:-}" ]; then
  need_kb=$(( layers * experts * 3 * hidden * inter * 2 * 3 / 1024 + 2 * 1024 * 1024 ))
  avail_kb=$(df -Pk "$work" | awk 'NR==2 {print $4}')
  if [ "$avail_kb" -lt "$need_kb" ]; then
    echo "e2e: $work has $((avail_kb / 1024)) MiB free; input, copy and output need about $((need_kb / 1024)) MiB" >&2
    exit 2
  fi
  rm -rf "$in"
  "$java" -cp "$bench_cp" dev.moeshard.benchmarks.GenerateCheckpoint "$in" "$layers" "$experts" "$hidden" "$inter"
fi
input_bytes=$(du -sb "$in" | cut -f1)
if [ -n "${CKPT:-}" ] && [ -f "$in/config.json" ]; then # the memory bound is the given checkpoint's, not the defaults'
  read -r experts hidden inter < <(python3 - "$in/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c = c.get("text_config", c)
first = lambda *keys: next(c[k] for k in keys if c.get(k))
print(first("num_experts", "n_routed_experts", "num_local_experts"), c["hidden_size"],
      first("moe_intermediate_size", "intermediate_size"))
PY
  )
fi

cold=${COLD:-1}
if [ "$cold" = 1 ] && ! { sync && echo 3 > /proc/sys/vm/drop_caches; } 2>/dev/null; then
  echo "e2e: cannot drop the page cache here (needs root): cold runs left out"
  cold=0
fi
peer=${PEER:-1}
if [ "$peer" = 1 ] && ! python3 -c "import torch, safetensors" 2>/dev/null; then
  echo "e2e: python3 cannot import torch and safetensors: the PyTorch run left out"
  peer=0
fi
states="warm"; [ "$cold" = 1 ] && states="warm cold"

echo "== machine: $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p')), $(free -g | awk '/Mem:/ {print $2}') GiB RAM," \
  "$(stat -f -c %T "$work"), $(cp --version | head -n 1); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== input: $in, $input_bytes bytes; $reps runs of each job per state ($states)"

prepare() {  # the page cache as the state wants it, for the input
  sync
  if [ "$1" = cold ]; then echo 3 > /proc/sys/vm/drop_caches; else cat "$in"/* > /dev/null; fi
}
results="$work/results.txt"; : > "$results"
record() { echo "$1 $2 $3 $4" >> "$results"; echo "  $2 ($1): $3 s, peak RSS $4 KiB"; }  # state job seconds KiB

for rep in $(seq "$reps"); do
  for state in $states; do
    echo "== run $rep, $state"
    rm -rf "$copy"; prepare "$state"
    start=$(date +%s%N); cp -r "$in" "$copy"; sync; end=$(date +%s%N)
    record "$state" "cp-r+sync" "$(awk -v ns=$((end - start)) 'BEGIN {printf "%.2f", ns / 1e9}')" 0
    rm -rf "$copy"
    if [ "$state" = cold ]; then # the floor a cold job cannot go under: reading its input, once
      prepare cold
      start=$(date +%s%N); cat "$in"/* > /dev/null; end=$(date +%s%N)
      record "$state" "read-input-alone" "$(awk -v ns=$((end - start)) 'BEGIN {printf "%.2f", ns / 1e9}')" 0
    fi
    # the disk's floor: writing as many bytes straight to it, while (cold) the input is read as well
    floor=("$work" "$input_bytes"); if [ "$state" = cold ]; then floor+=("$in"); fi
    prepare "$state"
    record "$state" "disk-floor" "$(python3 "$scripts/disk_floor.py" "${floor[@]}")" 0
    for device in $devices; do
      rm -rf "$out"; prepare "$state"
      read -r _ seconds _ kib _ < <(python3 "$scripts/timed.py" run "$java" "${flags[@]}" -jar "$cli" to-grouped \
          "$in" "$out" --quiet --device "$device")
      record "$state" "to-grouped--device-$device" "$seconds" "$kib"
    done
    if [ "$peer" = 1 ]; then
      rm -rf "$out"; prepare "$state"
      if line=$(python3 "$scripts/timed.py" run python3 "$scripts/pytorch_to_grouped.py" "$in" "$out"); then
        read -r _ seconds _ kib _ <<< "$line"
        record "$state" "pytorch" "$seconds" "$kib"
      else
        echo "  pytorch ($state): failed, left out"
      fi
    fi
    rm -rf "$out"
  done
done

expert_layer_kib=$(( experts * 3 * hidden * inter * 2 / 1024 ))
echo
echo "== results: best of $reps; ratios are to cp -r + sync of the same state unless said"
python3 - "$results" "$expert_layer_kib" <<'PY'
import collections, sys
best, rss = {}, collections.defaultdict(int)
for line in open(sys.argv[1]):
    state, job, seconds, kib = line.split()
    best[state, job] = min(best.get((state, job), float("inf")), float(seconds))
    rss[state, job] = max(rss[state, job], int(kib))
limit = 1024 * 1024 + int(sys.argv[2])
for state in ("warm", "cold"):
    if (state, "cp-r+sync") not in best:
        continue
    cp = best[state, "cp-r+sync"]
    print(f"{state}: cp -r + sync {cp:.2f} s")
    cpu = best.get((state, "to-grouped--device-cpu"))
    for (s, job), t in best.items():
        if s != state or job == "cp-r+sync":
            continue
        extra = ""
        if job.startswith("to-grouped--device-") and job != "to-grouped--device-cpu" and cpu:
            extra = f", {t / cpu:.2f} x the CPU run"
        if job == "read-input-alone":
            print(f"  reading the input alone: {t:.2f} s, {t / cp:.2f} x cp -r + sync")
            continue
        if job == "disk-floor":
            what = "reading the input while writing as many bytes" if state == "cold" else "writing as many bytes"
            print(f"  the disk's floor ({what} straight to it): {t:.2f} s, {t / cp:.2f} x cp -r + sync")
            continue
        if job == "pytorch" and cpu:
            extra = f", moeshard (cpu) is {t / cpu:.2f} x faster"
        peak = rss[s, job]
        memory = f", peak RSS {peak} KiB ({'within' if peak <= limit else 'OVER'} 1 GiB + one layer of experts = {limit} KiB)"
        print(f"  {job.replace('--', ' --').replace('device-', 'device ')}: {t:.2f} s, {t / cp:.2f} x cp -r + sync"
              f"{extra}{memory if job != 'pytorch' else f', peak RSS {peak} KiB'}")
PY
