package dev.moeshard.benchmarks;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The copy engine's kernels one by one (bulk runs, tile transposes per element width, gate/up interleave and
 * de-interleave, odd sizes), each beside a memcpy of the same bytes between the same buffers. See {@link KernelCase}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class CopyKernelsBenchmark {

    @Benchmark
    public void memcpy(KernelCase c) {
        c.memcpy();
    }

    @Benchmark
    public void copy(KernelCase c, EngineChoice choice) {
        c.copy(choice.engine);
    }
}
