package dev.moeshard.convert;

import java.nio.file.Path;
import java.util.List;

/** A {@link ConversionReport} from what a job wrote, its start time and its decisions. */
final class Reports {
    private Reports() {}

    static ConversionReport of(Path output, List<ConversionReport.WrittenCheckpoint> written, long startNanos,
                               List<String> decisions) {
        long tensors = written.stream().mapToLong(ConversionReport.WrittenCheckpoint::tensors).sum();
        long bytes = written.stream().mapToLong(ConversionReport.WrittenCheckpoint::bytes).sum();
        return new ConversionReport(output, written, tensors, bytes, (System.nanoTime() - startNanos) / 1e9, decisions);
    }
}
