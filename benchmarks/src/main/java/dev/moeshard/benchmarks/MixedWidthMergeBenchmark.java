package dev.moeshard.benchmarks;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The merge of a BF16 layer and an F32 layer in the same JVM, one after the other, beside a memcpy of both layers'
 * bytes. Every other benchmark forks a JVM per dtype, so its kernels only ever see one element width; a real
 * checkpoint mixes them (BF16 experts, F32 norms and routers, FP8 weights with F32 scales), and once the JIT has
 * seen a second width the transposes were measured 6–10× slower (see RESULTS.md). This keeps that case in the set.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class MixedWidthMergeBenchmark {

    @State(Scope.Benchmark)
    public static class Layers {
        @Param({"8x2048x768", "8x64x32"})
        public String layer;

        ExpertLayer bf16;
        ExpertLayer f32;

        @Setup
        public void setUp() {
            bf16 = layer("BF16");
            f32 = layer("F32");
        }

        private ExpertLayer layer(String dtype) {
            ExpertLayer l = new ExpertLayer();
            l.layer = layer;
            l.dtype = dtype;
            l.setUp();
            return l;
        }
    }

    @Benchmark
    public void memcpy(Layers l) {
        l.bf16.memcpyToGrouped();
        l.f32.memcpyToGrouped();
    }

    @Benchmark
    public void merge(Layers l, EngineChoice choice) {
        l.bf16.merge(choice.engine);
        l.f32.merge(choice.engine);
    }
}
