#!/usr/bin/env bash
# What planning and one rank cost on a checkpoint far larger than the machine, by simulation: a Kimi-K2-shaped FP8
# checkpoint (61 layers, 384 routed experts + 1 shared, H=7168, I=2048, about 1 TB in 159 shards) written with real
# safetensors headers and every data region left as a hole, so that it takes a few tens of MB of disk.
#
#   benchmarks/scale_simulation.sh [DIR]        (REPS=3 planning runs per EP size; KEEP=1 keeps the checkpoint)
#
# Reports (a) MoeConvert.planToGrouped for every rank at EP 64 and EP 256 (and EP 1, for the fixed cost) with keep-fp8: wall time and the plan's
# units (count, bytes each reads and writes); (b) one rank (rank 0 of 64) converted for real with keep-fp8, and the
# bytes it read from /proc/PID/io of the converting JVM, beside the plan's figure and one computed here from the
# shapes. The checkpoint goes into DIR (kept) or a temporary folder (removed); the rank's output is removed always.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
reps="${REPS:-3}"

if [ -n "${1:-}" ]; then
  work="$1"; mkdir -p "$work"; own_work=0
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/moeshard-scale.XXXXXX")"; own_work=1
fi
in="$work/kimi-k2-sparse"; out="$work/kimi-k2-rank"
cleanup() {
  rm -rf "$out" "$work/.kimi-k2-rank"* "$work/sparse-probe"
  if [ "$own_work" = 1 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# A file system that cannot hold holes would turn the terabyte into real blocks: refuse before writing it.
truncate -s 1G "$work/sparse-probe"
if [ "$(du -k "$work/sparse-probe" | cut -f1)" -gt 1024 ]; then
  echo "scale: $(stat -f -c %T "$work") under $work does not keep a 1 GB hole sparse; pick a DIR on ext4, xfs or tmpfs" >&2
  exit 2
fi
rm -f "$work/sparse-probe"

. "$root/scripts/find-jdk25.sh"
jar="$root/benchmarks/target/moeshard-benchmarks.jar"
if [ ! -f "$jar" ] || [ -n "$(find "$root/pom.xml" "$root"/*/pom.xml "$root"/*/src/main -newer "$jar" -type f 2>/dev/null | head -n 1)" ]; then
  echo "== building the benchmarks jar (reactor package, nothing installed)"
  (cd "$root" && ./mvnw -B -ntp -q -pl benchmarks -am package -DskipTests)
fi
java_cmd=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED ${SCALE_JAVA_OPTS:-}
  -cp "$jar" dev.moeshard.benchmarks.ScaleSimulation)
sim() { "${java_cmd[@]}" "$@" 2> >(grep -v "incubator modules" >&2); }
val() { grep "^$1=" "$2" | tail -n 1 | cut -d= -f2-; }
gb() { awk -v b="$1" 'BEGIN {printf "%.3f", b / 1e9}'; }

echo "== machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(stat -f -c %T "$work") at $work"
echo "== free disk before: $(df -Pk "$work" | awk 'NR==2 {printf "%.1f GB", $4 * 1024 / 1e9}')"

echo "== writing the sparse checkpoint"
rm -rf "$in"
sim write "$in" | tee "$work/write.txt"
logical=$(du -sb --apparent-size "$in" | cut -f1); on_disk=$(( $(du -sk "$in" | cut -f1) * 1024 ))
printf 'checkpoint: %d bytes logical (%s GB), %d bytes on disk (%s MB)\n' "$logical" "$(gb "$logical")" "$on_disk" \
  "$(awk -v b="$on_disk" 'BEGIN {printf "%.1f", b / 1e6}')"

# ---------------------------------------------------------------------------------------------------- (a) planning
# EP 1 (one unit) first: the fixed cost of planning (headers, the survey), beside which the per-rank cost shows.
echo "== planning every rank, EP 1, EP 64 and EP 256, keep-fp8 ($reps runs each, one JVM)"
sim plan "$in" 1,64,256 "$reps" | tee "$work/plan.txt"
if grep -q '^plan.ep256.refused=' "$work/plan.txt"; then
  echo "== EP 256 refused (above); planning EP 128 instead"
  sim plan "$in" 128 "$reps" | tee -a "$work/plan.txt"
fi

# ------------------------------------------------------------------------------ (b) one rank, converted for real
# Expected input bytes of rank 0 of 64, from the shapes alone: its experts (ExpertRange: ranks below E % W take one
# more) with their 128x128 F32 scales, and every other tensor whole.
fp8() { echo $(( $1 * $2 + 4 * (($1 + 127) / 128) * (($2 + 127) / 128) )); }
H=7168; I=2048; DI=18432; V=163840; E=384; L=61; DENSE=1; W=64
moe_layers=$(( L - DENSE ))
rank0_experts=$(( E / W + (E % W > 0 ? 1 : 0) ))
expert_tensor=$(fp8 $I $H)                                   # gate, up [I, H]; down [H, I] is the same size
attention=$(( $(fp8 1536 $H) + $(fp8 $((64 * 192)) 1536) + $(fp8 576 $H) + $(fp8 $((64 * 256)) 512) + $(fp8 $H $((64 * 128))) ))
norms=$(( 2 * H * 2 + 1536 * 2 + 512 * 2 ))
dense_mlp=$(( 2 * $(fp8 $DI $H) + $(fp8 $H $DI) ))
moe_rest=$(( E * H * 2 + E * 4 + 3 * expert_tensor ))      # router, its correction bias, the shared expert
non_expert=$(( L * (attention + norms) + DENSE * dense_mlp + moe_layers * moe_rest + 2 * V * H * 2 + H * 2 ))
rank0_expert_bytes=$(( rank0_experts * moe_layers * 3 * expert_tensor ))
expected=$(( rank0_expert_bytes + non_expert ))
all_tensors=$(( non_expert + E * moe_layers * 3 * expert_tensor ))
echo "expected tensor bytes of the whole checkpoint: $all_tensors (the writer's: $(val write.tensor_bytes "$work/write.txt"))"
echo "expected reads of rank 0 of $W: $rank0_experts experts x $moe_layers layers x 3 x $expert_tensor = $rank0_expert_bytes, + non-expert $non_expert = $expected"

# Which share fits: the rank's output is real data (its experts and every non-expert tensor), so it needs
# output + 10 GB free; rank 0 of 64 first, then smaller shares of the experts.
avail=$(( $(df -Pk "$work" | awk 'NR==2 {print $4}') * 1024 ))
ep=""
for try in 64 128 384; do
  share_experts=$(( E / try + (E % try > 0 ? 1 : 0) ))
  need=$(( non_expert + share_experts * moe_layers * 3 * expert_tensor + 10000000000 ))
  if [ "$avail" -ge "$need" ] && [ "$avail" -ge 40000000000 ]; then ep=$try; break; fi
  echo "== rank 0 of $try needs $need bytes free with margin, $avail free: too little"
done
if [ -z "$ep" ]; then
  echo "== not enough free disk for any rank's output; skipping the conversion" >&2
  exit 0
fi
[ "$ep" = 64 ] || echo "== NOTE: converting rank 0 of $ep instead of 64 (less free disk); the expected figure above is for 64"

echo "== converting rank 0 of $ep for real (moeshard to-grouped IN OUT --ep-size $ep --ep-rank 0 --dtype keep-fp8, as a library call)"
sync; echo "free disk: $(df -Pk "$work" | awk 'NR==2 {printf "%.1f GB", $4 * 1024 / 1e9}')"
/usr/bin/time -v -o "$work/convert.time" "${java_cmd[@]}" convert "$in" "$out" "$ep" 0 \
  2> >(grep -v "incubator modules" >&2) | tee "$work/convert.txt"
grep -E "Elapsed|Maximum resident" "$work/convert.time"
written_disk=$(( $(du -sk "$out" | cut -f1) * 1024 ))
rchar=$(val convert.io.rchar "$work/convert.txt"); read_bytes=$(val convert.io.read_bytes "$work/convert.txt")
plan_read=$(val convert.plan_read_bytes "$work/convert.txt")

echo
echo "== results"
printf 'checkpoint                     %d shards, %s tensor bytes, %s MB on disk\n' "$(val write.shards "$work/write.txt")" \
  "$(val write.tensor_bytes "$work/write.txt")" "$(awk -v b="$on_disk" 'BEGIN {printf "%.1f", b / 1e6}')"
for e in 1 64 256 128; do
  grep -q "^plan.ep$e.units=" "$work/plan.txt" || continue
  printf 'plan EP %-3d                    first %s s, then %s; %s units; read bytes per unit %s\n' "$e" \
    "$(val plan.ep$e.seconds_first "$work/plan.txt")" "$(val plan.ep$e.seconds_median_after_first "$work/plan.txt")" \
    "$(val plan.ep$e.units "$work/plan.txt")" "$(val plan.ep$e.unit_read_bytes "$work/plan.txt")"
done
printf 'rank 0 of %-3d wall             %s s (the library call; the whole JVM: %s)\n' "$ep" \
  "$(val convert.seconds "$work/convert.txt")" "$(awk -F': ' '/Elapsed/ {print $2}' "$work/convert.time")"
printf 'rank 0 rchar                   %d (%s GB)\n' "$rchar" "$(gb "$rchar")"
plan_out=$(val convert.plan_output_bytes "$work/convert.txt")
printf 'rank 0 plan readBytes          %d (rchar - plan = %d; a plan of the same request alone read %d)\n' "$plan_read" \
  "$(( rchar - plan_read ))" "$(val convert.plan_io.rchar "$work/convert.txt")"
# Each unit's file is read back once after it is written, for its done-record's checksums: that read is in rchar too.
printf 'rank 0 rchar - output          %d (the input read, once the %d bytes read back for checksums are taken off)\n' \
  "$(( rchar - plan_out ))" "$plan_out"
[ "$ep" = 64 ] && printf 'rank 0 expected (shapes)       %d (rchar - expected = %d, plan - expected = %d)\n' "$expected" \
  "$(( rchar - expected ))" "$(( plan_read - expected ))"
printf 'rank 0 read_bytes (from disk)  %d: the data are holes, which the kernel returns as zeros without touching the disk\n' "$read_bytes"
printf 'rank 0 write_bytes             %d; output on disk %d\n' "$(val convert.io.write_bytes "$work/convert.txt")" "$written_disk"
