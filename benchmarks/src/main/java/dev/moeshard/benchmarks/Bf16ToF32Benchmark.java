package dev.moeshard.benchmarks;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.MemorySegment;
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
 * BF16→F32 conversion of one projection of a layer ([E·I, H], every expert's gate) into a preallocated F32 tensor,
 * beside a memcpy of the output bytes (the target: conversion ≥ 0.5 × memcpy of the output bytes). The
 * output is twice the input, so the memcpy moves more than the conversion reads.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class Bf16ToF32Benchmark {

    @State(Scope.Benchmark)
    public static class Data {
        @Param({"128x2048x768", "8x64x32"})
        public String layer;

        Tensor bf16;
        Tensor f32;
        MemorySegment f32Source;

        @Setup
        public void setUp() {
            LayerShape s = LayerShape.parse(layer);
            long rows = s.experts() * s.intermediate();
            bf16 = Tensor.allocate(DType.BF16, rows, s.hidden());
            f32 = Tensor.allocate(DType.F32, rows, s.hidden());
            f32Source = Tensor.allocate(DType.F32, rows, s.hidden()).segment();
            PatternFill.fill(bf16.segment());
            PatternFill.fill(f32.segment());
            PatternFill.fill(f32Source);
        }
    }

    @Benchmark
    public void memcpy(Data d) {
        MemorySegment.copy(d.f32Source, 0, d.f32.segment(), 0, d.f32Source.byteSize());
    }

    @Benchmark
    public void convert(Data d, EngineChoice choice) {
        choice.engine.copy(d.f32, d.bf16);
    }
}
