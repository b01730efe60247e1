package dev.moeshard.cli;

import dev.moeshard.convert.MoeConvert;
import dev.moeshard.convert.VerifyReport;
import dev.moeshard.convert.VerifyRequest;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code moeshard verify HF_INPUT GROUPED_INPUT...}: a {@link VerifyRequest}, and its report as text or JSON. */
@Command(name = "verify", mixinStandardHelpOptions = true,
        description = "Checks that grouped checkpoints hold exactly an HF checkpoint's data. Exit 0 when they do, "
                + "1 and the first differences when not.")
final class VerifyCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "HF_INPUT",
            description = "The per-expert HF checkpoint, or a Hugging Face cache folder (models--ORG--NAME/) of one.")
    Path hfInput;

    @Parameters(index = "1..*", arity = "1..*", paramLabel = "GROUPED_INPUT",
            description = "Grouped checkpoints (one, the ranks of one EP run, or a directory holding ep-rank-R/).")
    List<Path> groupedInputs;

    @Option(names = "--max-differences", paramLabel = "N", defaultValue = "20",
            description = "How many differences to print (default: ${DEFAULT-VALUE}).")
    int maxDifferences;

    @Option(names = "--layout", paramLabel = "auto|deepep|grouped|hf-v5|vllm", defaultValue = "auto",
            description = "The grouped inputs' layout, where their names, shapes, config.json and moeshard.json leave "
                    + "it ambiguous (default: ${DEFAULT-VALUE}).")
    String layoutName;

    @Mixin
    DeviceOptions device;

    @Mixin
    RevisionOption cacheRevision;

    @Mixin
    OutputMode mode;

    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() {
        MoeConvert.requireUsable(device.device());
        VerifyReport report = MoeConvert.verify(VerifyRequest.of(hfInput, groupedInputs).withRevision(cacheRevision.revision)
                .withLayout(Choices.layoutOrAuto("--layout", layoutName)).withThreads(device.threads()));
        if (mode.json) {
            mode.printJson(report);
        } else {
            printText(report, mode.out());
        }
        return report.identical() ? ExitCode.OK : ExitCode.DIFFERENT;
    }

    private void printText(VerifyReport r, PrintWriter out) {
        int ranks = r.ranks();
        if (r.identical()) {
            out.printf("identical: %d tensor comparisons, %d bytes, over %d grouped checkpoint%s%n", r.comparisons(),
                    r.bytes(), ranks, ranks == 1 ? "" : "s");
        } else {
            int n = r.differences().size();
            out.printf("different: %d difference%s%s%n", n, n == 1 ? "" : "s",
                    n > maxDifferences ? ", the first " + maxDifferences + ":" : ":");
            r.differences().stream().limit(Math.max(0, maxDifferences)).forEach(d -> out.println("  " + Text.escaped(d)));
        }
        out.flush();
    }
}
