package dev.moeshard.convert;

import java.nio.file.Path;
import java.util.List;

/**
 * What one worker did with its units of a staged conversion ({@link MoeConvert#runUnits}).
 *
 * @param output the output whose staging directory holds the units
 * @param staging the staging directory
 * @param ran the units this call wrote
 * @param skipped the units it found done and intact already, and left as they were
 * @param bytes tensor bytes this call wrote
 * @param seconds its wall time
 * @param unitsDone units of the plan done now, by any worker
 * @param unitsTotal units of the plan
 */
public record UnitsReport(Path output, Path staging, List<String> ran, List<String> skipped, long bytes,
                          double seconds, int unitsDone, int unitsTotal) {
    public UnitsReport {
        ran = List.copyOf(ran);
        skipped = List.copyOf(skipped);
    }

    /** Whether every unit of the plan is done, so that {@link MoeConvert#finalizeOutput} can finish the output. */
    public boolean complete() {
        return unitsDone == unitsTotal;
    }
}
