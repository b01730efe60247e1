#!/usr/bin/env bash
# Packs what the GPU tests and benchmarks need on a machine with an NVIDIA GPU and no Java into one folder:
# a jlink'ed Java 25 runtime, the test jars (tensor-core's copies, moe-state-dict's MXFP4 decoding) and benchmark
# jars with their dependencies, the JUnit console launcher, the PTX (inside tensor-core's and moe-state-dict's jars),
# libcudart as a fallback, run-gpu.sh, the one command to run there, run-cpu-compare.sh, the CPU side-by-side with
# PyTorch on that machine's host processor, run-e2e.sh (benchmarks/e2e_to_grouped.sh: to-grouped beside cp -r + sync,
# warm and cold, and beside PyTorch) and transpose_ceiling, the native
# reference of benchmarks/probes/native built for any AVX-512 host.
# Usage: scripts/gpu-bundle.sh [OUTPUT_DIR]   (default: .device-bundle, ignored by git)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. scripts/find-jdk25.sh
out="${1:-$root/.device-bundle}"
rm -rf "$out"
mkdir -p "$out/lib"

./mvnw --batch-mode --no-transfer-progress --quiet -DskipTests install
./mvnw --batch-mode --no-transfer-progress --quiet -pl tensor-core dependency:copy-dependencies \
    -DincludeScope=test -DoutputDirectory="$out/lib"
# The console launcher brings JUnit itself; the separate JUnit jars would only duplicate it.
rm -f "$out"/lib/junit-*.jar "$out"/lib/opentest4j-*.jar "$out"/lib/apiguardian-*.jar
./mvnw --batch-mode --no-transfer-progress --quiet dependency:copy \
    -Dartifact=org.junit.platform:junit-platform-console-standalone:6.1.3 -DoutputDirectory="$out/lib"
cp tensor-core/target/tensor-core-*-SNAPSHOT.jar tensor-core/target/tensor-core-*-tests.jar \
   moe-state-dict/target/moe-state-dict-*-SNAPSHOT.jar moe-state-dict/target/moe-state-dict-*-tests.jar \
   benchmarks/target/benchmarks-*-SNAPSHOT.jar "$out/lib/"
cp benchmarks/gpu_compare.py benchmarks/pytorch_compare.py "$out/"
cp cli/target/moeshard-cli.jar "$out/"

# The native reference of benchmarks/probes/native, for any AVX-512 x86-64 host (there is no compiler to rely on there).
if command -v gcc >/dev/null; then
  gcc -O3 -march=x86-64-v4 -o "$out/transpose_ceiling" benchmarks/probes/native/transpose_ceiling.c
fi

cudart=$(ldconfig -p | awk '/libcudart\.so\.1[0-9] /{print $NF; exit}')
if [ -n "$cudart" ]; then cp "$(readlink -f "$cudart")" "$out/libcudart.so"; fi

"$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.management,java.sql,java.xml,jdk.incubator.vector,jdk.unsupported,jdk.zipfs \
    --strip-debug --no-man-pages --no-header-files --compress=zip-9 --output "$out/jre"

cat > "$out/run-gpu.sh" <<'RUN'
#!/usr/bin/env bash
# Runs moeshard's CUDA tests (checked byte for byte against the CPU engine), then the GPU benchmarks.
# Usage: ./run-gpu.sh [CHECKPOINT_DIR]   (a per-expert checkpoint for the end-to-end measurement)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
java="$here/jre/bin/java"
flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED)
if ! ldconfig -p | grep -q 'libcudart\.so'; then flags+=("-Dmoeshard.cuda.library=$here/libcudart.so"); fi
cp=$(ls "$here"/lib/*.jar | grep -v console-standalone | tr '\n' ':')
"$java" "${flags[@]}" -jar "$here"/lib/junit-platform-console-standalone-*.jar execute \
    --class-path "$cp" --select-class dev.moeshard.cuda.CudaAvailabilityTest --select-class dev.moeshard.cuda.GpuCopyTest \
    --select-class dev.moeshard.moe.quant.GpuMxfp4DecoderTest --details=tree --disable-banner
tests=$?
"$java" "${flags[@]}" -cp "$cp" dev.moeshard.benchmarks.GpuBenchmark 128 2048 768 10 "$@"
if [ $# -gt 0 ]; then
    # The command line's GPU path on the same checkpoint, checked byte for byte by verify.
    rm -rf /tmp/moeshard-gpu-out
    start=$(date +%s%N)
    "$java" "${flags[@]}" -jar "$here/moeshard-cli.jar" to-grouped "$1" /tmp/moeshard-gpu-out --device cuda --quiet \
        && echo "to-grouped --device cuda: $(( ($(date +%s%N) - start) / 1000000 )) ms" \
        && "$java" "${flags[@]}" -jar "$here/moeshard-cli.jar" verify "$1" /tmp/moeshard-gpu-out || tests=1
fi
exit $tests
RUN
chmod +x "$out/run-gpu.sh"

cat > "$out/run-cpu-compare.sh" <<'RUN'
#!/usr/bin/env bash
# The CPU side-by-side of benchmarks/pytorch_compare.sh on this host: PyTorch, then moeshard, same jobs and threads.
# Usage: ./run-cpu-compare.sh [ExHxI[,...] [DTYPE[,...] [THREADS[,...] [REPS]]]]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
layers="${1:-128x2048x768,8x64x32}"; dtypes="${2:-BF16,F32}"; threads="${3:-1,2}"; reps="${4:-5}"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$here/pytorch_compare.py" "$layers" "$dtypes" "$threads" "$reps"
cp=$(ls "$here"/lib/*.jar | grep -v console-standalone | tr '\n' ':')
"$here/jre/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:MaxDirectMemorySize=16g \
    -cp "$cp" dev.moeshard.benchmarks.ConversionThroughput "$layers" "$dtypes" "$threads" "$reps" 2>&1 | grep -v 'INFO dev.moeshard'
RUN
chmod +x "$out/run-cpu-compare.sh"

# The end-to-end yardstick, the repository's own script: it finds the runtime and jars beside it.
cp benchmarks/e2e_to_grouped.sh "$out/run-e2e.sh"
cp benchmarks/timed.py benchmarks/pytorch_to_grouped.py benchmarks/disk_floor.py "$out/"
du -sh "$out"
