package dev.moeshard.cli;

import dev.moeshard.convert.ConversionRequest;
import dev.moeshard.convert.MoeConvert;
import dev.moeshard.convert.UnitSlice;
import dev.moeshard.convert.UnitsReport;
import dev.moeshard.convert.UsageException;
import java.util.Map;
import java.util.Optional;
import picocli.CommandLine.Option;

/**
 * How much of a conversion this process runs: every unit (the default), every unit continuing a stopped run
 * ({@code --resume}), or one slice of the plan's units as one worker of many ({@code --unit I/N}, or the slice a
 * Slurm array or a Kubernetes Indexed Job gives through the environment), leaving the output to {@code finalize}.
 */
final class UnitOptions {
    @Option(names = "--unit", paramLabel = "I/N",
            description = "Run only the I-th of N slices of the plan's units (0-based) into OUTPUT's staging directory,"
                    + " as one worker of N; then run moeshard finalize OUTPUT. Without it the slice comes from "
                    + "SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX with --units, if set.")
    String unit;

    @Option(names = "--units", paramLabel = "N",
            description = "The slice count for a Kubernetes Indexed Job's JOB_COMPLETION_INDEX (its completions).")
    Integer units;

    @Option(names = "--resume", description = "Continue the unfinished output of an earlier run that was stopped, "
            + "keeping its finished units; a run with --resume that is stopped keeps its own finished units too.")
    boolean resume;

    /** The slice this process runs, or empty to run every unit. */
    Optional<UnitSlice> slice(Map<String, String> environment) {
        if (unit != null) {
            return Optional.of(UnitSlice.parse(unit));
        }
        Optional<UnitSlice> slice = UnitSlice.fromEnvironment(environment, units);
        if (slice.isEmpty() && units != null) {
            throw new UsageException("--units N goes with a Kubernetes Indexed Job's JOB_COMPLETION_INDEX, which is not "
                    + "set; pass --unit I/N to run one slice by hand");
        }
        return slice;
    }

    /** Runs {@code request} as these options ask and prints the summary; the exit code. */
    int run(ConversionRequest request, OutputMode mode) {
        Optional<UnitSlice> slice = slice(System.getenv());
        if (slice.isEmpty()) {
            return mode.report(listener -> resume ? MoeConvert.resume(request, listener)
                    : MoeConvert.run(request, listener));
        }
        if (resume) {
            throw new UsageException("--resume runs every unit; a worker with a slice (--unit, or a scheduler's "
                    + "environment) always keeps the units done already");
        }
        return mode.reportUnits(listener -> {
            UnitsReport report = MoeConvert.runUnits(request, slice.get(), listener);
            listener.message("slice " + slice.get() + ": wrote " + report.ran().size() + " unit"
                    + (report.ran().size() == 1 ? "" : "s") + ", kept " + report.skipped().size()
                    + " done already; " + report.unitsDone() + " of " + report.unitsTotal() + " units of the plan done"
                    + (report.complete() ? ": run moeshard finalize " + request.output() : ""));
            return report;
        });
    }
}
