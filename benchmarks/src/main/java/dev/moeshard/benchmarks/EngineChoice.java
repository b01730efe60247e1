package dev.moeshard.benchmarks;

import dev.moeshard.tensor.copy.CopyEngine;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The copy engine a benchmark runs on: scalar or SIMD kernels, on some number of threads. It is a state of its own so
 * that a class's {@code memcpy} method, which does not take it, runs once per size rather than once per engine.
 */
@State(Scope.Benchmark)
public class EngineChoice {
    @Param({"scalar", "simd"})
    public String kernels;

    @Param({"1"})
    public int threads;

    CopyEngine engine;

    @Setup
    public void setUp() {
        boolean simd = switch (kernels) {
            case "scalar" -> false;
            case "simd" -> true;
            default -> throw new IllegalArgumentException("kernels is scalar or simd, got '" + kernels + "'");
        };
        engine = CopyEngine.create(simd, threads);
        // A SIMD run that silently fell back to scalar code would record a wrong baseline: refuse it.
        if (simd && engine.kernels().name().toLowerCase(java.util.Locale.ROOT).contains("scalar")) {
            throw new IllegalStateException("SIMD kernels are not available in this JVM (got "
                    + engine.kernels().name() + "); run with --add-modules=jdk.incubator.vector on C2");
        }
    }
}
