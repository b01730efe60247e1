package dev.moeshard.spark;

import dev.moeshard.cli.ExitCode;
import dev.moeshard.convert.ConversionPlan;
import dev.moeshard.convert.ConversionReport;
import dev.moeshard.convert.MoeConvert;
import dev.moeshard.convert.WorkUnit;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.apache.spark.sql.SparkSession;

/**
 * One moeshard conversion shared among Spark executors:
 * {@code spark-submit --class dev.moeshard.spark.SparkConvert moeshard-spark.jar [to-grouped|to-hf] IN... OUT [options]}.
 *
 * <p>The driver parses the arguments as the moeshard command does, plans the job from headers and creates the output's
 * staging directory ({@link MoeConvert#stage}); each of the plan's units becomes one Spark task, which writes that unit
 * there ({@link MoeConvert#runUnits}); once all are done the driver finishes the output ({@link
 * MoeConvert#finalizeOutput}) and prints the summary. IN and OUT must lie on a file system that the driver and every
 * executor see under the same paths. A job that fails keeps its finished units; submitting it again continues it.
 * Exit codes are the moeshard command's: 0 done, 2 usage, 3 invalid input, 4 I/O failure, 5 a device missing.
 */
public final class SparkConvert {
    private SparkConvert() {}

    public static void main(String[] args) {
        AtomicReference<SparkSession> started = new AtomicReference<>();
        int code;
        try {
            code = run(() -> {
                started.set(SparkSession.builder().appName("moeshard").getOrCreate());
                return started.get();
            }, UnitTask.library(), new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
        } finally {
            if (started.get() != null) {
                started.get().stop();
            }
        }
        if (code != ExitCode.OK) {
            System.exit(code);
        }
    }

    /**
     * Runs the job that {@code args} describe in the session {@code spark} gives (asked for only once the arguments
     * are read), each unit through {@code task}, and returns the exit code; the session is left running.
     */
    static int run(Supplier<SparkSession> spark, UnitTask task, PrintWriter out, PrintWriter err, String... args) {
        JobArguments job;
        try {
            job = JobArguments.parse(args);
        } catch (RuntimeException e) {
            return fail(e, false, err, null);
        }
        DriverLines lines = new DriverLines(err, job.quiet());
        Path output = job.request().output();
        boolean staged = false;
        long start = System.nanoTime();
        try {
            SparkSession session = spark.get();
            UnitsOnExecutors.requireOneAttemptAtATime(session);
            ConversionPlan plan = MoeConvert.stage(job.request());
            List<String> units = plan.units().stream().map(WorkUnit::id).toList();
            lines.line(job.command() + ": " + units.size() + " unit" + (units.size() == 1 ? "" : "s") + " of "
                    + plan.outputBytes() + " bytes staged for " + output + ", one Spark task each");
            staged = true;
            List<UnitOutcome> outcomes = UnitsOnExecutors.run(session, output, units, task);
            ConversionReport finished = MoeConvert.finalizeOutput(output, lines);
            // The report's time is the finalize step's; the job's is from staging on.
            ConversionReport report = new ConversionReport(finished.output(), finished.outputs(), finished.tensors(),
                    finished.bytes(), (System.nanoTime() - start) / 1e9, finished.decisions());
            Summary.print(report, outcomes, job, out, err);
            return ExitCode.OK;
        } catch (Exception e) {
            // Exception, not RuntimeException: Spark's job failure is a checked SparkException, thrown undeclared.
            return fail(e, job.verbose(), err, !staged ? null
                    : "the units finished so far are kept in the staging directory of " + output
                    + "; submit the same job again to continue it");
        }
    }

    private static int fail(Exception e, boolean verbose, PrintWriter err, String afterwards) {
        err.println("moeshard: " + Failures.message(e));
        if (afterwards != null) {
            err.println("moeshard: " + afterwards);
        }
        if (verbose) {
            e.printStackTrace(err);
        }
        err.flush();
        return Failures.exitCode(e);
    }
}
