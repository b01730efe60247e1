package dev.moeshard.spark;

import dev.moeshard.convert.UnitsReport;
import java.io.Serializable;

/**
 * What one task reports back to the driver about its unit: plain values only, since it crosses the network
 * ({@link UnitsReport} holds paths, which do not serialise).
 *
 * @param unit the unit id
 * @param ran whether this task wrote it (false: it was done and intact already, from an earlier attempt or run)
 * @param bytes tensor bytes this task wrote
 * @param seconds the task's time in the library
 * @param executor the Spark executor id it ran on ({@code driver} in local mode)
 * @param attempt Spark's attempt number of the task, 0 for the first
 */
public record UnitOutcome(String unit, boolean ran, long bytes, double seconds, String executor, int attempt)
        implements Serializable {

    static UnitOutcome of(String unit, UnitsReport report, String executor, int attempt) {
        return new UnitOutcome(unit, report.ran().contains(unit), report.bytes(), report.seconds(), executor, attempt);
    }
}
