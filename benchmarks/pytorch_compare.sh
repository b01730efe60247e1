#!/usr/bin/env bash
# The PyTorch side-by-side: the same jobs (merge, split materialized, BF16->F32, each beside a memcpy of the same
# bytes on the same threads) with torch on the CPU and with moeshard, on the same sizes and thread counts, in one
# invocation, so that the two sets of numbers come from the same minutes of the same machine.
#
#   benchmarks/pytorch_compare.sh [ExHxI[,...] [DTYPE[,...] [THREADS[,...] [REPS]]]]
#   defaults: 128x2048x768,8x64x32  BF16,F32  1,2  5
#
# Needs Debian's python3-torch (apt-get install -y python3-torch python3-numpy); runs /usr/bin/python3, which is
# the interpreter those packages install into.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/find-jdk25.sh

layers="${1:-128x2048x768,8x64x32}"
dtypes="${2:-BF16,F32}"
threads="${3:-1,2}"
reps="${4:-5}"

jar=benchmarks/target/moeshard-benchmarks.jar
if [ ! -f "$jar" ] || [ -n "$(find pom.xml */pom.xml */src/main -newer "$jar" -type f 2>/dev/null | head -n 1)" ]; then
  echo "building the benchmarks jar..."
  ./mvnw --batch-mode --no-transfer-progress -q install -DskipTests
fi
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "pytorch_compare.sh: /usr/bin/python3 cannot import torch; apt-get install -y python3-torch python3-numpy" >&2
  exit 1
fi

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "java: $(java -version 2>&1 | head -n 1); torch: $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
echo
/usr/bin/python3 benchmarks/pytorch_compare.py "$layers" "$dtypes" "$threads" "$reps"
echo
# Native memory of one layer in F32 is ~5 GB beside the previous layer not yet reclaimed: room above the default.
java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:MaxDirectMemorySize=16g -cp "$jar" \
    dev.moeshard.benchmarks.ConversionThroughput "$layers" "$dtypes" "$threads" "$reps" 2>&1 \
  | grep -v 'INFO dev.moeshard'
