package dev.moeshard.benchmarks;

import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
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
        CopyEngine engine = choice.engine;
        long i = layer.shape.intermediate();
        for (int e = 0; e < layer.gate.length; e++) {
            Tensor slot = layer.gateAndUp.select(0, e);
            engine.copy(slot.narrow(1, 0, i), layer.gate[e].t());
            engine.copy(slot.narrow(1, i, i), layer.up[e].t());
            engine.copy(layer.downProjs.select(0, e), layer.down[e].t());
        }
    }
}
