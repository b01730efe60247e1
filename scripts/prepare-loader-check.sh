#!/usr/bin/env bash
# Builds the input of scripts/check-loader.py from the committed family fixtures, on a machine with a JDK 25:
#   OUT_DIR/<family>/original/  the fixture as transformers saved it
#   OUT_DIR/<family>/to-hf/     moeshard to-grouped (deepep) of it, then to-hf back
#   OUT_DIR/<family>/hf-v5/     moeshard to-grouped --layout hf-v5 of it
# A conversion moeshard refuses (exit 2 or 3: a usage or input error, with its reason) leaves <output>.refused in place
# of the folder, holding the tool's message; check-loader.py lists those as skipped. Any other failure is a bug: it is
# listed at the end and the script exits 1, after every family has been tried. OUT_DIR/prepare.json records both.
# Usage: scripts/prepare-loader-check.sh OUT_DIR [FAMILY ...]   (default: every fixture)
# Elsewhere (a machine with no JDK or Maven, e.g. with fixtures just made by make-family-fixtures.py):
#   FIXTURES=DIR MOESHARD_JAVA=.../bin/java MOESHARD_CLI_JAR=.../moeshard-cli.jar scripts/prepare-loader-check.sh OUT
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 OUT_DIR [FAMILY ...]" >&2; exit 2; }
out="$1"; shift
fixtures="${FIXTURES:-$root/moe-state-dict/src/test/resources/fixtures/families}"
if [ -n "${MOESHARD_JAVA:-}" ] && [ -n "${MOESHARD_CLI_JAR:-}" ]; then
  java="$MOESHARD_JAVA"; jar="$MOESHARD_CLI_JAR"
else
  . "$root/scripts/find-jdk25.sh"
  (cd "$root" && ./mvnw -o -q -pl cli -am package -DskipTests -Dmaven.javadoc.skip=true -Dmaven.source.skip=true) \
    || { echo "prepare-loader-check: building the command line tool failed" >&2; exit 4; }
  java="$JAVA_HOME/bin/java"; jar="$root/cli/target/moeshard-cli.jar"
fi
# As the moeshard launcher starts it, without its rebuild-on-change step (the build above did that).
moeshard=("$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar "$jar")

if [ $# -gt 0 ]; then families=("$@"); else families=($(cd "$fixtures" && ls -d */ | tr -d /)); fi
rm -rf "$out"
mkdir -p "$out"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

refused=()   # "family/output: message"
failed=()    # likewise, for failures that are not refusals

# run FAMILY OUTPUT COMMAND...: runs one moeshard command, its messages into $scratch/log; classifies a failure.
run() {
  local family="$1" output="$2"; shift 2
  "${moeshard[@]}" "$@" --quiet >"$scratch/log" 2>&1
  local rc=$?
  [ $rc -eq 0 ] && return 0
  local message
  message="$(grep -v -e '^WARNING: Using incubator modules' -e '^\[INFO\]' "$scratch/log" | tr '\n' ' ')"
  if [ $rc -eq 2 ] || [ $rc -eq 3 ]; then
    printf 'exit %s: %s\n' "$rc" "$message" > "$out/$family/$output.refused"
    refused+=("$family/$output: exit $rc: $message")
  else
    failed+=("$family/$output: exit $rc: $message")
  fi
  return $rc
}

for family in "${families[@]}"; do
  src="$fixtures/$family"
  [ -f "$src/config.json" ] || { failed+=("$family: no fixture at $src"); continue; }
  echo "== $family"
  mkdir -p "$out/$family/original"
  cp "$src"/* "$out/$family/original/"
  rm -rf "$scratch/grouped"
  if run "$family" to-hf to-grouped "$src" "$scratch/grouped"; then
    run "$family" to-hf to-hf "$scratch/grouped" "$out/$family/to-hf"
  fi
  run "$family" hf-v5 to-grouped --layout hf-v5 "$src" "$out/$family/hf-v5"
done

python3 - "$out/prepare.json" "${#refused[@]}" "${refused[@]}" "${failed[@]}" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
rest = sys.argv[3:]
with open(path, "w") as f:
    json.dump({"refused": rest[:n], "failed": rest[n:]}, f, indent=1)
PY
echo
echo "refused by moeshard (skipped by check-loader.py): ${#refused[@]}"
for r in "${refused[@]}"; do echo "  $r"; done
echo "failed otherwise: ${#failed[@]}"
for f in "${failed[@]}"; do echo "  $f"; done
echo "$(du -sh "$out" | cut -f1) in $out"
[ ${#failed[@]} -eq 0 ]
