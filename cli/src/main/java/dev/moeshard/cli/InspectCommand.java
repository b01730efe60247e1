package dev.moeshard.cli;

import dev.moeshard.convert.InspectReport;
import dev.moeshard.convert.MoeConvert;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/**
 * {@code moeshard inspect INPUT [--json]}: what a checkpoint holds and whether it can be converted, from its headers,
 * index and config.json only; no tensor data is read.
 */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Shows a checkpoint's family, layout, layers, experts, projections, dtypes, bytes and coverage "
                + "problems, from headers only. Exit 0 when it is complete, 3 when not.")
final class InspectCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "INPUT",
            description = "A checkpoint directory (with an index or *.safetensors files) or one .safetensors file.")
    Path input;

    @Mixin
    OutputMode mode;

    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() {
        InspectReport report = MoeConvert.inspect(input);
        if (mode.json) {
            mode.printJson(report);
        } else {
            printText(report, mode.out());
            mode.out().flush();
        }
        return report.valid() ? ExitCode.OK : ExitCode.INVALID_INPUT;
    }

    private static void printText(InspectReport r, PrintWriter out) {
        out.printf("input:       %s (%d file%s)%n", r.input(), r.files().size(), r.files().size() == 1 ? "" : "s");
        out.printf("family:      %s (from %s)%n", r.family(), r.detectedFrom());
        out.printf("layout:      %s%n", r.layout());
        out.printf("experts:     %d per layer, %s, H=%d I=%d%n", r.numExperts(), r.gated() ? "gated" : "not gated",
                r.hidden(), r.intermediate());
        out.printf("layers:      %d with experts %s%n", r.expertLayers().size(), r.expertLayers());
        out.printf("projections: %s%n", String.join(", ", r.projections()));
        out.printf("dtypes:      %s%n", r.dtypes());
        out.printf("tensors:     %d (%d per-expert), %d bytes%n", r.tensors(), r.expertTensors(), r.totalBytes());
        r.missingExperts().forEach((layer, ids) -> out.printf("missing:     %s experts %s%n", layer, ids));
        r.quantization().forEach(q -> out.printf("quantized:   %s: %s, blocks of %s, %d tensors, %d bytes%n", q.group(),
                q.format(), q.blockSize(), q.tensors(), q.bytes()));
        if (r.valid()) {
            out.println("problems:    none");
        } else {
            out.printf("problems:    %d%n", r.problems().size());
            r.problems().forEach(p -> out.println("  " + Text.escaped(p)));
        }
    }
}
