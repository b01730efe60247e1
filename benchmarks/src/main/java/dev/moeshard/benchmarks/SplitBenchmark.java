package dev.moeshard.benchmarks;

import dev.moeshard.moe.ExpertNaming;
import dev.moeshard.moe.MoeConfig;
import dev.moeshard.moe.MoeStateDictAdapter;
import dev.moeshard.moe.ToHfOptions;
import dev.moeshard.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Grouped→HF split of one layer, materialized into preallocated per-expert tensors (the reverse transposes of the
 * merge), beside a memcpy of the same bytes between the same memory; and the split as views through the adapter's
 * {@code toHf}, which must move no bytes: its time is per-expert bookkeeping only and does not grow with H or I.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class SplitBenchmark {

    @Benchmark
    public void memcpy(ExpertLayer layer) {
        layer.memcpyToPerExpert();
    }

    @Benchmark
    public void split(ExpertLayer layer, EngineChoice choice) {
        layer.split(choice.engine);
    }

    /** No engine parameter: views run no kernel. Returned so that the JIT cannot drop the work. */
    @Benchmark
    public Map<String, Tensor> splitViews(ExpertLayer layer) {
        LayerShape s = layer.shape;
        MoeStateDictAdapter adapter = new MoeStateDictAdapter(
                new MoeConfig(s.experts(), s.hidden(), s.intermediate(), true), ExpertNaming.DEFAULT);
        Map<String, Tensor> grouped = new LinkedHashMap<>();
        grouped.put("model.layers.0.mlp.experts.gate_and_up_projs", layer.gateAndUp);
        grouped.put("model.layers.0.mlp.experts.down_projs", layer.downProjs);
        return adapter.toHf(grouped, ToHfOptions.defaults().withViews(true));
    }
}
