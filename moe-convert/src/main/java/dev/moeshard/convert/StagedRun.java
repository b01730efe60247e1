package dev.moeshard.convert;

import dev.moeshard.safetensors.TensorSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes the units of one conversion into one staged output directory and commits it: each unit into its folder,
 * in order, one progress count over all of them, one line per finished checkpoint, the input checked unchanged around
 * each unit ({@link InputGuard}). The one loop every job that writes
 * grouped checkpoints runs, whatever its units hold.
 */
final class StagedRun {
    private StagedRun() {}

    /** Writes one unit into {@code directory}. */
    interface UnitWriter {
        void write(RankUnit unit, Path directory, ByteProgress progress) throws IOException;
    }

    /** Writes {@code units} with {@code writer} into {@code output}, which appears whole at the end or not at all. */
    static List<ConversionReport.WrittenCheckpoint> run(Path output, boolean replace, List<RankUnit> units,
                                                        String describeLayout, InputGuard guard, UnitWriter writer,
                                                        ProgressListener listener) {
        long total = units.stream().mapToLong(RankUnit::bytes).sum();
        FreeSpace.require(output, total);
        ByteProgress progress = new ByteProgress(listener, total);
        List<ConversionReport.WrittenCheckpoint> written = new ArrayList<>();
        long finished = 0;
        try (StagedDirectory staged = StagedDirectory.create(output, replace, listener)) {
            for (RankUnit unit : units) {
                Path dir = unit.subdirectory() == null ? staged.path() : staged.path().resolve(unit.subdirectory());
                guard.around(() -> writer.write(unit, dir, progress));
                Path shown = unit.subdirectory() == null ? output : output.resolve(unit.subdirectory());
                finished += unit.bytes();
                progress.reach(finished, "wrote " + shown);
                listener.message(String.format("wrote %s: experts [%d, %d)%s, %d tensors", shown, unit.range().start(),
                        unit.range().end(), describeLayout == null ? "" : " as " + describeLayout, unit.specs().size()));
                written.add(new ConversionReport.WrittenCheckpoint(shown, unit.range().start(), unit.range().end(),
                        unit.specs().size(), unit.specs().stream().mapToLong(TensorSpec::byteSize).sum()));
            }
            staged.commit();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + output + ": " + e.getMessage(), e);
        }
        return written;
    }
}
