#!/usr/bin/env bash
# Compiles the probes against the built tensor-core classes and runs one of them.
#
#   benchmarks/probes/run.sh PROBE [ARG...]      PROBE: TransposeOrderProbe, BlockKernelProbe, WriteProbe or MergeWriteProbe
#   JAVA_OPTS="-Dprobe.block=pairs16" benchmarks/probes/run.sh TransposeOrderProbe 128x2048x768 bands:256
#
# The probes sit in tensor-core's packages to reach its package-private kernels, so they run from the class path,
# not from the jar's module. Needs `./mvnw install` (or ./run-tests) to have built tensor-core first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
. "$root/scripts/find-jdk25.sh"
classes="$root/tensor-core/target/classes"
if [ ! -d "$classes" ]; then
  echo "probes: build tensor-core first (./mvnw -q install -DskipTests)" >&2
  exit 2
fi
out="$root/benchmarks/target/probes"
mkdir -p "$out"
"$JAVA_HOME/bin/javac" --add-modules jdk.incubator.vector -nowarn -cp "$classes" -d "$out" \
    $(find "$here/src" -name '*.java') 2>&1 | grep -v 'incubator' || true
probe="$1"; shift
case "$probe" in
  WriteProbe|MergeWriteProbe) class="dev.moeshard.safetensors.$probe" ;;
  TransposeOrderProbe|BlockKernelProbe) class="dev.moeshard.tensor.copy.$probe" ;;
  *) echo "probes: TransposeOrderProbe, BlockKernelProbe, WriteProbe or MergeWriteProbe" >&2; exit 2 ;;
esac
# tensor-core logs through slf4j: take its jar from the local Maven repository that built tensor-core.
slf4j="$(find "${HOME}/.m2/repository/org/slf4j/slf4j-api" -name 'slf4j-api-2*.jar' 2>/dev/null | sort -V | tail -n 1)"
# shellcheck disable=SC2086
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED ${JAVA_OPTS:-} \
    -cp "$out:$classes${slf4j:+:$slf4j}" "$class" "$@"
