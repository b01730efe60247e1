package dev.moeshard.benchmarks;

import dev.moeshard.moe.quant.Fp8BlockDequantizer;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
import org.openjdk.jmh.infra.Blackhole;

/**
 * FP8 block dequantization (DeepSeek-V3 style, one F32 scale per 128×128 block) of every expert's gate [I, H] of a
 * layer to BF16, beside a memcpy of the output bytes.
 *
 * <p>{@code dequantize} is {@link Fp8BlockDequantizer} as the adapter calls it: it allocates its result and runs on
 * the shared engine, so it has no kernel parameter (start the JVM with {@code -Dmoeshard.simd.disable=true} for the
 * scalar path). {@code dequantizeInto} is the same into preallocated outputs, as to-grouped writes an expert that
 * is one run of its mapped output: what is left is the kernels' work, with no fresh memory to fault in.
 * {@code convert} is the F8_E4M3→BF16 conversion alone (no scales) on the chosen engine into preallocated output.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class Fp8DequantBenchmark {

    @State(Scope.Benchmark)
    public static class Data {
        @Param({"128x2048x768", "8x64x32"})
        public String layer;

        Tensor[] weights;
        Tensor[] scales;
        Tensor[] outputs;
        MemorySegment outputSource;
        MemorySegment outputTarget;

        @Setup
        public void setUp() {
            LayerShape s = LayerShape.parse(layer);
            long rows = s.intermediate();
            long cols = s.hidden();
            weights = new Tensor[s.experts()];
            scales = new Tensor[s.experts()];
            outputs = new Tensor[s.experts()];
            for (int e = 0; e < s.experts(); e++) {
                weights[e] = Tensor.allocate(DType.F8_E4M3, rows, cols);
                PatternFill.fill(weights[e].segment());
                scales[e] = Tensor.allocate(DType.F32, Fp8BlockDequantizer.scaleShape(rows, cols));
                MemorySegment sc = scales[e].segment();
                for (long k = 0; k < sc.byteSize(); k += Float.BYTES) {
                    sc.set(ValueLayout.JAVA_FLOAT_UNALIGNED, k, 1f / (1 + k % 7));
                }
                outputs[e] = Tensor.allocate(DType.BF16, rows, cols);
                PatternFill.fill(outputs[e].segment());
            }
            long outputBytes = DType.BF16.storageBytes(s.experts() * rows * cols);
            outputSource = Tensor.allocate(DType.U8, outputBytes).segment();
            outputTarget = Tensor.allocate(DType.U8, outputBytes).segment();
            PatternFill.fill(outputSource);
            PatternFill.fill(outputTarget);
        }
    }

    @Benchmark
    public void memcpy(Data d) {
        MemorySegment.copy(d.outputSource, 0, d.outputTarget, 0, d.outputSource.byteSize());
    }

    @Benchmark
    public void dequantize(Data d, Blackhole sink) {
        for (int e = 0; e < d.weights.length; e++) {
            sink.consume(Fp8BlockDequantizer.dequantize(d.weights[e], d.scales[e], DType.BF16, "gate_proj"));
        }
    }

    @Benchmark
    public void dequantizeInto(Data d) {
        for (int e = 0; e < d.weights.length; e++) {
            Fp8BlockDequantizer.dequantizeInto(d.weights[e], d.scales[e], d.outputs[e], "gate_proj");
        }
    }

    @Benchmark
    public void convert(Data d, EngineChoice choice) {
        for (int e = 0; e < d.weights.length; e++) {
            choice.engine.copy(d.outputs[e], d.weights[e]);
        }
    }
}
