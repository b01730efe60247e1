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
 * HF→grouped merge of one layer into preallocated grouped storage: {@code gu[e, :, 0:I] ← gate_eᵀ},
 * {@code gu[e, :, I:2I] ← up_eᵀ}, {@code down[e] ← down_eᵀ}, beside a memcpy of the same bytes between the same
 * memory. The target: merge on one thread ≥ 0.5 × memcpy.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class MergeBenchmark {

    @Benchmark
    public void memcpy(ExpertLayer layer) {
        layer.memcpyToGrouped();
    }

    @Benchmark
    public void merge(ExpertLayer layer, EngineChoice choice) {
        layer.merge(choice.engine);
    }
}
