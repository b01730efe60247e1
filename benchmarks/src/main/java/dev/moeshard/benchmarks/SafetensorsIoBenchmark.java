package dev.moeshard.benchmarks;

import dev.moeshard.safetensors.SafetensorsFile;
import dev.moeshard.safetensors.SafetensorsWriter;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * safetensors I/O of one layer's per-expert tensors (3E tensors in one file), beside a memcpy of the same bytes in
 * memory. {@code write} plans the header, creates and maps the file, copies every tensor into the mapping and
 * commits (which forces the data out and renames the file into place), so it includes what the file system costs.
 * {@code read} opens the file written at setup (in the page cache by then), validates its header and copies every
 * tensor out of the mapping into memory, so every byte is actually read.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class SafetensorsIoBenchmark {

    @State(Scope.Benchmark)
    public static class Layer {
        /** Smaller than the merge's layers: a write goes through the disk, and the set must stay short. */
        @Param({"8x2048x768", "8x64x32"})
        public String layer;

        Path directory;
        Path written;
        Path read;
        List<String> names;
        List<Tensor> tensors;
        List<Tensor> copies;
        List<TensorSpec> specs;

        @Setup
        public void setUp() throws IOException {
            LayerShape s = LayerShape.parse(layer);
            directory = Files.createTempDirectory("moeshard-bench");
            written = directory.resolve("written.safetensors");
            read = directory.resolve("read.safetensors");
            names = new ArrayList<>();
            tensors = new ArrayList<>();
            copies = new ArrayList<>();
            specs = new ArrayList<>();
            for (int e = 0; e < s.experts(); e++) {
                add("model.layers.0.mlp.experts." + e + ".gate_proj.weight", s.intermediate(), s.hidden());
                add("model.layers.0.mlp.experts." + e + ".up_proj.weight", s.intermediate(), s.hidden());
                add("model.layers.0.mlp.experts." + e + ".down_proj.weight", s.hidden(), s.intermediate());
            }
            try (SafetensorsWriter out = SafetensorsWriter.open(read, SafetensorsWriter.plan(specs, Map.of()))) {
                for (int k = 0; k < names.size(); k++) {
                    out.write(names.get(k), tensors.get(k));
                }
                out.commit();
            }
        }

        private void add(String name, long rows, long cols) {
            Tensor t = Tensor.allocate(DType.BF16, rows, cols);
            Tensor copy = Tensor.allocate(DType.BF16, rows, cols);
            PatternFill.fill(t.segment());
            PatternFill.fill(copy.segment());
            names.add(name);
            tensors.add(t);
            copies.add(copy);
            specs.add(TensorSpec.of(name, t));
        }

        @TearDown
        public void tearDown() throws IOException {
            try (Stream<Path> files = Files.walk(directory)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> {
                    try {
                        Files.delete(p);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
            }
        }
    }

    @Benchmark
    public void memcpy(Layer f) {
        for (int k = 0; k < f.tensors.size(); k++) {
            MemorySegment from = f.tensors.get(k).segment();
            MemorySegment.copy(from, 0, f.copies.get(k).segment(), 0, from.byteSize());
        }
    }

    @Benchmark
    public void write(Layer f, EngineChoice choice) {
        try (SafetensorsWriter out = SafetensorsWriter.open(f.written, SafetensorsWriter.plan(f.specs, Map.of()))) {
            for (int k = 0; k < f.names.size(); k++) {
                choice.engine.copy(out.tensor(f.names.get(k)), f.tensors.get(k));
            }
            out.commit();
        }
    }

    @Benchmark
    public void read(Layer f, EngineChoice choice) {
        try (SafetensorsFile in = SafetensorsFile.open(f.read)) {
            for (int k = 0; k < f.names.size(); k++) {
                choice.engine.copy(f.copies.get(k), in.tensor(f.names.get(k)));
            }
        }
    }
}
