package dev.moeshard.convert;

import java.util.List;

/** The {@link StagedJob} a request names: per-expert or grouped input to grouped experts, or grouped back to HF. */
final class StagedJobs {
    private StagedJobs() {}

    /** The job of {@code request}; a cache repository folder input is read at the snapshot its revision names. */
    static StagedJob open(ConversionRequest request) {
        return switch (request) {
            case ToGroupedRequest g -> {
                ToGroupedRequest atSnapshot = g.atSnapshot();
                yield GroupedToGrouped.isGroupedInput(atSnapshot.input()) ? GroupedToGrouped.open(atSnapshot)
                        : ToGrouped.open(atSnapshot);
            }
            case ToHfRequest h -> ToHf.open(h);
        };
    }

    /** The inputs of {@code request} as given (whole cache folders), which its output must neither be nor lie in. */
    static List<java.nio.file.Path> inputs(ConversionRequest request) {
        return switch (request) {
            case ToGroupedRequest g -> List.of(g.input());
            case ToHfRequest h -> h.inputs();
        };
    }

    /** The inputs {@code request} reads: cache repository folders replaced by their snapshots. */
    static List<java.nio.file.Path> readInputs(ConversionRequest request) {
        return switch (request) {
            case ToGroupedRequest g -> List.of(g.atSnapshot().input());
            case ToHfRequest h -> h.snapshotInputs();
        };
    }
}
