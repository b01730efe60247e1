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
            description = "A checkpoint directory (with an index or *.safetensors files), one .safetensors file, a "
                    + "Hugging Face cache folder (models--ORG--NAME/) or an --all-ranks output folder.")
    Path input;

    @Mixin
    RevisionOption cacheRevision;

    @Mixin
    OutputMode mode;

    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() {
        InspectReport report = MoeConvert.inspect(input, cacheRevision.revision);
        if (mode.json) {
            mode.printJson(report);
        } else {
            printText(report, mode.out());
            mode.out().flush();
        }
        return report.valid() ? ExitCode.OK : ExitCode.INVALID_INPUT;
    }

    private static void printText(InspectReport r, PrintWriter out) {
        line(out, "input:       %s (%d file%s)", r.input(), r.files().size(), r.files().size() == 1 ? "" : "s");
        line(out, "family:      %s (from %s)", r.family(), r.detectedFrom());
        line(out, "layout:      %s", r.layout());
        line(out, "experts:     %d per layer, %s, H=%d I=%d", r.numExperts(), r.gated() ? "gated" : "not gated",
                r.hidden(), r.intermediate());
        line(out, "layers:      %d with experts %s", r.expertLayers().size(), r.expertLayers());
        r.ranks().forEach(rank -> line(out, "rank:        %s", rank));
        if (!r.projections().isEmpty()) { // per-expert input only: grouped tensors are named by the layout
            line(out, "projections: %s", String.join(", ", r.projections()));
        }
        line(out, "dtypes:      %s", r.dtypes());
        line(out, "tensors:     %d (%d of experts), %d bytes", r.tensors(), r.expertTensors(), r.totalBytes());
        r.missingExperts().forEach((layer, ids) -> line(out, "missing:     %s experts %s", layer, ids));
        r.quantization().forEach(q -> line(out, "quantized:   %s: %s, blocks of %s, %d tensors, %d bytes", q.group(),
                q.format(), q.blockSize(), q.tensors(), q.bytes()));
        if (r.valid()) {
            line(out, "problems:    none");
        } else {
            line(out, "problems:    %d", r.problems().size());
            r.problems().forEach(p -> line(out, "  %s", p));
        }
    }

    /** One line of the report, with the control characters of names and paths from the input shown escaped. */
    private static void line(PrintWriter out, String format, Object... args) {
        out.println(Text.escaped(String.format(format, args)));
    }
}
