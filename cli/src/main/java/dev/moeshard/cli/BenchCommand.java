package dev.moeshard.cli;

import dev.moeshard.convert.LayerThroughput;
import dev.moeshard.convert.UsageException;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.simd.VectorSupport;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code moeshard bench}: {@link LayerThroughput} of one layer's merge and split beside a memcpy of the same bytes,
 * printed as GB/s and ratios.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Times the HF->grouped merge and the grouped->HF split of one layer beside a memcpy of the same "
                + "bytes; prints GB/s and the ratio to memcpy.")
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--experts", paramLabel = "E", defaultValue = "128", description = "Experts (default: ${DEFAULT-VALUE}).")
    int experts;

    @Option(names = "--hidden", paramLabel = "H", defaultValue = "2048", description = "Hidden size (default: ${DEFAULT-VALUE}).")
    long hidden;

    @Option(names = "--intermediate", paramLabel = "I", defaultValue = "768",
            description = "Expert intermediate size (default: ${DEFAULT-VALUE}).")
    long intermediate;

    @Option(names = "--dtype", paramLabel = "bf16|f16|f32", defaultValue = "bf16", description = "dtype (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "1", description = "Copy threads (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--repetitions", paramLabel = "R", defaultValue = "5",
            description = "Timed repetitions after one warm-up; the best is reported (default: ${DEFAULT-VALUE}).")
    int repetitions;

    @Option(names = "--scalar", description = "Time the scalar kernels instead of SIMD.")
    boolean scalar;

    @Option(names = "--both", description = "Time the scalar and the SIMD kernels.")
    boolean both;

    @Mixin
    OutputMode mode;

    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() {
        DType type = switch (dtype.toLowerCase(Locale.ROOT)) {
            case "bf16" -> DType.BF16;
            case "f16" -> DType.F16;
            case "f32" -> DType.F32;
            default -> throw new UsageException("--dtype must be bf16, f16 or f32, got '" + dtype + "'");
        };
        PrintWriter out = mode.out();
        List<LayerThroughput.Result> results = new ArrayList<>();
        if (!mode.quiet && !mode.json) {
            out.printf("one layer: E=%d H=%d I=%d %s, %.1f MB of experts; %d thread%s; best of %d after a warm-up%n",
                experts, hidden, intermediate, type, LayerThroughput.layerBytes(experts, hidden, intermediate, type) / 1e6,
                threads, threads == 1 ? "" : "s", repetitions);
            out.printf("SIMD: %s%n", VectorSupport.reason());
        }
        for (boolean simd : both ? List.of(false, true) : List.of(!scalar)) {
            LayerThroughput.Result r = LayerThroughput.measure(experts, hidden, intermediate, type, threads, simd,
                    repetitions);
            results.add(r);
            if (mode.json) {
                continue;
            }
            out.printf("%-8s merge %7.2f GB/s  ratio %.2f   split %7.2f GB/s  ratio %.2f   memcpy %7.2f GB/s%n",
                    r.kernels(), r.mergeGigabytesPerSecond(), r.memcpyNanos() / (double) r.mergeNanos(),
                    r.splitGigabytesPerSecond(), r.memcpyNanos() / (double) r.splitNanos(), r.memcpyGigabytesPerSecond());
            if (r.libcNanos() >= 0) {
                out.printf("%-8s against the C library's memcpy (%.2f GB/s): merge ratio %.2f, split ratio %.2f%n",
                        r.kernels(), r.bytes() / (double) r.libcNanos(), r.libcNanos() / (double) r.mergeNanos(),
                        r.libcNanos() / (double) r.splitNanos());
            }
        }
        if (mode.json) {
            mode.printJson(results);
        }
        out.flush();
        return ExitCode.OK;
    }
}
