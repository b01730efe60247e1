package dev.moeshard.spark;

import dev.moeshard.convert.MoeConvert;
import dev.moeshard.convert.UnitsReport;
import java.nio.file.Path;
import java.util.List;

/** {@link UnitTask#library()}: an enum, so that every executor deserialises the one instance and nothing else. */
enum LibraryUnitTask implements UnitTask {
    INSTANCE;

    @Override
    public UnitsReport run(Path output, String unit) {
        return MoeConvert.runUnits(output, List.of(unit), new ExecutorLog(unit));
    }
}
