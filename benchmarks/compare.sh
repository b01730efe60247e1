#!/usr/bin/env bash
# Runs a short fixed set of the JMH benchmarks and compares each one's ratio to a memcpy of the same bytes (measured
# in the same run) with benchmarks/baseline.json. Exits 1 when a ratio falls more than 15% below its baseline.
#
#   benchmarks/compare.sh                       run the set once, print the table, compare
#   benchmarks/compare.sh --runs 2              run it twice; each benchmark keeps its best ratio
#   benchmarks/compare.sh --update-baseline [--runs 2]
#                                               write baseline.json from the lowest ratio of the runs instead
#   benchmarks/compare.sh --tolerance 0.10      another threshold
#
# Ratios, not times, because ratios travel between machines and between minutes of a shared one. About 5 minutes a
# run on 2 cores. Results stay in benchmarks/target/compare/ (JMH JSON and logs).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/find-jdk25.sh

update=()
runs=1
tolerance=0.15
while [ $# -gt 0 ]; do
  case "$1" in
    --update-baseline) update=(--update-baseline) ;;
    --runs) runs="$2"; shift ;;
    --tolerance) tolerance="$2"; shift ;;
    *) echo "compare.sh: unknown argument '$1' (see the comment at the top of the script)" >&2; exit 2 ;;
  esac
  shift
done

jar=benchmarks/target/moeshard-benchmarks.jar
# Build when the jar is missing or older than any main source or POM (all modules: they share ~/.m2).
if [ ! -f "$jar" ] || [ -n "$(find pom.xml */pom.xml */src/main -newer "$jar" -type f 2>/dev/null | head -n 1)" ]; then
  echo "building the benchmarks jar..."
  ./mvnw --batch-mode --no-transfer-progress -q install -DskipTests
fi

out="benchmarks/target/compare/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
pkg=dev.moeshard.benchmarks

# One JMH invocation per class: each class has its own sizes. Short iterations: the ratio is what is compared, and
# the memcpy it is divided by runs under the same settings, minutes apart at most.
jmh() {
  local run="$1" label="$2" name="$3" time="$4"; shift 4
  echo "  $label: $name $* (iterations of $time)"
  java -jar "$jar" "^$pkg\.$name\." -f 1 -wi 2 -w "$time" -i 3 -r "$time" -foe true \
      -rf json -rff "$out/run$run/$label.json" "$@" > "$out/run$run/$label.log" 2>&1 \
    || { echo "compare.sh: $label failed; see $out/run$run/$label.log" >&2; tail -n 20 "$out/run$run/$label.log" >&2; exit 1; }
}

files=()
for run in $(seq 1 "$runs"); do
  mkdir -p "$out/run$run"
  echo "run $run of $runs ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)):"
  jmh "$run" merge MergeBenchmark 1s -p layer=128x2048x768,8x64x32 -p dtype=BF16 -p threads=1
  jmh "$run" merge-2-threads MergeBenchmark 1s -p layer=128x2048x768 -p dtype=BF16 -p kernels=simd -p threads=2
  jmh "$run" merge-mixed-widths MixedWidthMergeBenchmark 1s -p layer=8x2048x768 -p threads=1
  jmh "$run" split SplitBenchmark 1s -p layer=128x2048x768 -p dtype=BF16 -p threads=1
  jmh "$run" kernels CopyKernelsBenchmark 500ms -p matrix=2047x769 -p threads=1
  jmh "$run" bf16-to-f32 Bf16ToF32Benchmark 1s -p layer=128x2048x768 -p threads=1
  jmh "$run" fp8-dequant Fp8DequantBenchmark 1s -p layer=128x2048x768 -p threads=1
  jmh "$run" safetensors SafetensorsIoBenchmark 1s -p layer=8x2048x768 -p threads=1
  files+=("$out/run$run"/*.json)
done

echo
java -cp "$jar" "$pkg.RatioReport" "${update[@]}" --tolerance "$tolerance" benchmarks/baseline.json "${files[@]}"
