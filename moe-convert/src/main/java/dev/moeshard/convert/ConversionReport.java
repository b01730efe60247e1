package dev.moeshard.convert;

import java.nio.file.Path;
import java.util.List;

/**
 * What a conversion wrote and decided.
 *
 * @param output the directory written
 * @param outputs each checkpoint written: the output itself, or one per expert-parallel rank
 * @param tensors tensors written, over every checkpoint
 * @param bytes tensor bytes written, over every checkpoint
 * @param seconds the job's wall time, planning included
 * @param decisions what was decided and why, one sentence each (family and where it came from, layouts, the device)
 */
public record ConversionReport(Path output, List<WrittenCheckpoint> outputs, long tensors, long bytes, double seconds,
                               List<String> decisions) {
    public ConversionReport {
        outputs = List.copyOf(outputs);
        decisions = List.copyOf(decisions);
    }

    /**
     * One checkpoint written.
     *
     * @param path its directory
     * @param expertStart the first global expert id it holds
     * @param expertEnd one past the last global expert id it holds
     * @param tensors its tensors
     * @param bytes its tensor bytes
     */
    public record WrittenCheckpoint(Path path, int expertStart, int expertEnd, long tensors, long bytes) {}

    /** Bytes written per second of wall time. */
    public double bytesPerSecond() {
        return seconds > 0 ? bytes / seconds : 0;
    }
}
