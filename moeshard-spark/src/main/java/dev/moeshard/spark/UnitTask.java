package dev.moeshard.spark;

import dev.moeshard.convert.MoeConvert;
import dev.moeshard.convert.UnitsReport;
import java.io.Serializable;
import java.nio.file.Path;

/**
 * What one Spark task does with its one unit: write it into the staging directory of {@code output}. Serializable,
 * since Spark ships it to the executors with the closure; it must carry no state of its own beyond that, because the
 * executors learn the job from the staging directory, not from the driver.
 */
@FunctionalInterface
public interface UnitTask extends Serializable {
    /** Writes unit {@code unit} of the job staged for {@code output}, or finds it done and intact already. */
    UnitsReport run(Path output, String unit);

    /** The library's {@link MoeConvert#runUnits}, its progress logged on the executor. */
    static UnitTask library() {
        return LibraryUnitTask.INSTANCE;
    }
}
