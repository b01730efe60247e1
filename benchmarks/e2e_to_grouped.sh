#!/usr/bin/env bash
# End-to-end measurement of `moeshard to-grouped` (issue 6): a generated per-expert checkpoint of several GB,
# converted beside a plain `cp -r` of the same directory, both from a warm page cache, in one invocation.
#
#   benchmarks/e2e_to_grouped.sh [WORKDIR=/tmp/moeshard-e2e] [LAYERS=8] [EXPERTS=64] [HIDDEN=2048] [INTERMEDIATE=768]
#
# Targets: wall(to-grouped) <= 1.4 x wall(cp -r); peak RSS of moeshard <= 1 GiB + one layer's experts.
# moeshard fsyncs its output before the final rename and cp -r does not, so the cp is also timed with a `sync`
# after it, for the fair ratio. The generated data is deleted at the end unless KEEP=1.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
work="${1:-/tmp/moeshard-e2e}"
layers="${2:-8}"; experts="${3:-64}"; hidden="${4:-2048}"; inter="${5:-768}"

if [ ! -x /usr/bin/time ]; then
  echo "e2e: /usr/bin/time is missing; install the Debian package 'time' (sudo apt-get install time) and rerun" >&2
  exit 2
fi
expert_layer_bytes=$(( experts * 3 * hidden * inter * 2 ))
total_guess=$(( layers * expert_layer_bytes ))
need_kb=$(( total_guess * 3 / 1024 + 2 * 1024 * 1024 ))
mkdir -p "$work"
avail_kb=$(df -Pk "$work" | awk 'NR==2 {print $4}')
if [ "$avail_kb" -lt "$need_kb" ]; then
  echo "e2e: $work has $((avail_kb / 1024)) MiB free; input, cp copy and grouped output need about $((need_kb / 1024)) MiB" >&2
  exit 2
fi
in="$work/hf"; copy="$work/hf-copy"; out="$work/grouped"
rm -rf "$in" "$copy" "$out"
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$in" "$copy" "$out"; }
trap cleanup EXIT

. "$root/scripts/find-jdk25.sh"
bench_jar="$root/benchmarks/target/moeshard-benchmarks.jar"
if [ ! -f "$bench_jar" ] || [ ! -f "$root/cli/target/moeshard-cli.jar" ]; then
  (cd "$root" && ./mvnw -B -ntp -q -DskipTests install)
fi
"$JAVA_HOME/bin/java" -cp "$bench_jar" dev.moeshard.benchmarks.GenerateCheckpoint "$in" "$layers" "$experts" "$hidden" "$inter"
input_bytes=$(du -sb "$in" | cut -f1)
"$root/moeshard" --version >/dev/null   # builds the CLI now if needed, not inside the timed run

echo "== file system: $(stat -f -c %T "$work"), $(cp --version | head -n 1)"
echo "== machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB RAM; uptime: $(uptime)"
echo "== warming the page cache ($input_bytes bytes)"
cat "$in"/* > /dev/null
sync

seconds() {  # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:07.12" -> 7.12
  awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$1"
}
max_rss_kb() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }

echo "== cp -r"
/usr/bin/time -v cp -r "$in" "$copy" 2> "$work/cp.time"
t0=$(date +%s.%N); sync; t1=$(date +%s.%N)
cp_sync=$(echo "$t1 - $t0" | bc -l)
cp_wall=$(seconds "$work/cp.time")
rm -rf "$copy"; sync
cat "$in"/* > /dev/null

echo "== moeshard to-grouped (sampling /proc/PID/status for RssAnon and RssFile)"
/usr/bin/time -v "$root/moeshard" to-grouped "$in" "$out" 2> "$work/moeshard.time" &
time_pid=$!
peak_anon=0; peak_file=0; peak_rss=0
while kill -0 "$time_pid" 2>/dev/null; do
  pid=$(pgrep -P "$time_pid" | head -n 1 || true)
  if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
    read -r rss anon file < <(awk '/^VmRSS/ {r=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {print r+0, a+0, f+0}' \
      "/proc/$pid/status" 2>/dev/null || echo "0 0 0")
    [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
    [ "$anon" -gt "$peak_anon" ] && peak_anon=$anon
    [ "$file" -gt "$peak_file" ] && peak_file=$file
  fi
  sleep 0.1
done
wait "$time_pid"
ms_wall=$(seconds "$work/moeshard.time")
ms_rss=$(max_rss_kb "$work/moeshard.time")
grep -v "^\s" "$work/moeshard.time" || true

limit_kb=$(( (1024 * 1024 * 1024 + expert_layer_bytes) / 1024 ))
ratio=$(echo "$ms_wall / $cp_wall" | bc -l)
ratio_sync=$(echo "$ms_wall / ($cp_wall + $cp_sync)" | bc -l)
printf '\n== results (%s, %d bytes, %d layers x %d experts, H=%d I=%d BF16)\n' "$in" "$input_bytes" "$layers" "$experts" "$hidden" "$inter"
printf 'cp -r wall                 %8.2f s   (+ sync %.2f s)\n' "$cp_wall" "$cp_sync"
printf 'moeshard to-grouped wall   %8.2f s   (includes JVM start, planning and fsync)\n' "$ms_wall"
printf 'ratio to cp -r             %8.2f     target <= 1.40: %s\n' "$ratio" "$(echo "$ratio <= 1.4" | bc -l | sed 's/1/met/;s/0/NOT met/')"
printf 'ratio to cp -r + sync      %8.2f\n' "$ratio_sync"
printf 'peak RSS (time -v)         %8d KiB  target <= %d KiB (1 GiB + one layer of experts): %s\n' "$ms_rss" "$limit_kb" \
  "$([ "$ms_rss" -le "$limit_kb" ] && echo met || echo NOT met)"
printf 'sampled peaks (0.1 s)      VmRSS %d KiB, RssAnon %d KiB, RssFile %d KiB\n' "$peak_rss" "$peak_anon" "$peak_file"
printf 'cp -r peak RSS             %8d KiB\n' "$(max_rss_kb "$work/cp.time")"
echo "uptime after: $(uptime)"
