package dev.moeshard.spark;

import dev.moeshard.convert.UsageException;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * The units of a staged conversion as one Spark stage: one partition, so one task, per unit id, so that Spark
 * schedules each unit on its own, retries a failed one by itself ({@code spark.task.maxFailures}) and shows each in
 * its UI. Only the unit ids, the output path as a string and the {@link UnitTask} travel to the executors, which read
 * the job from the staging directory on the file system they share with the driver.
 */
final class UnitsOnExecutors {
    private UnitsOnExecutors() {}

    /** Runs {@code units} of the job staged for {@code output} on the executors; one outcome per unit, in order. */
    static List<UnitOutcome> run(SparkSession spark, Path output, List<String> units, UnitTask task) {
        if (units.isEmpty()) {
            return List.of();
        }
        requireOneAttemptAtATime(spark);
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        String out = output.toString();
        sc.setJobDescription("moeshard: " + units.size() + " units of " + out);
        try {
            return sc.parallelize(units, units.size()).map(unit -> runOne(task, out, unit)).collect();
        } finally {
            sc.setJobDescription(null);
        }
    }

    // Static, so that the closure captures only its arguments: the task, a string and the unit id.
    private static UnitOutcome runOne(UnitTask task, String output, String unit) {
        TaskContext context = TaskContext.get();
        return UnitOutcome.of(unit, task.run(Path.of(output), unit), SparkEnv.get().executorId(),
                context == null ? 0 : context.attemptNumber());
    }

    /**
     * Refuses speculative execution, before anything is staged: it starts a second attempt of a slow task while the
     * first still runs, two writers of one unit at once, which the library's units are not built for (a retry after
     * a failure is: it starts once the failed attempt is over).
     */
    static void requireOneAttemptAtATime(SparkSession spark) {
        if (spark.sparkContext().getConf().getBoolean("spark.speculation", false)) {
            throw new UsageException("spark.speculation is on, which may run one unit twice at once; submit the job "
                    + "with --conf spark.speculation=false");
        }
    }
}
