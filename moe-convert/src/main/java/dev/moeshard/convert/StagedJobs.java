package dev.moeshard.convert;

import java.util.List;

/** The {@link StagedJob} a request names: per-expert or grouped input to grouped experts, or grouped back to HF. */
final class StagedJobs {
    private StagedJobs() {}

    static StagedJob open(ConversionRequest request) {
        return switch (request) {
            case ToGroupedRequest g -> GroupedToGrouped.isGroupedInput(g.input()) ? GroupedToGrouped.open(g) : ToGrouped.open(g);
            case ToHfRequest h -> ToHf.open(h);
        };
    }

    /** The inputs of {@code request}, which its output must neither be nor lie in. */
    static List<java.nio.file.Path> inputs(ConversionRequest request) {
        return switch (request) {
            case ToGroupedRequest g -> List.of(g.input());
            case ToHfRequest h -> h.inputs();
        };
    }
}
