package dev.moeshard.convert;

import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.IntPredicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The {@link StagedJob} a request names: per-expert or grouped input to grouped experts, or grouped back to HF. */
final class StagedJobs {
    private static final Pattern RANK_FOLDER = Pattern.compile("ep-rank-(\\d{1,9})/[^/]+");

    private StagedJobs() {}

    /** The job of {@code request}; a cache repository folder input is read at the snapshot its revision names. */
    static StagedJob open(ConversionRequest request) {
        return open(request, rank -> true);
    }

    /**
     * The job of {@code request} with only the checkpoints of the ranks {@code ranks} accepts planned: what a worker
     * needs for its units, without planning the hundreds of ranks others write.
     */
    static StagedJob open(ConversionRequest request, IntPredicate ranks) {
        return switch (request) {
            case ToGroupedRequest g -> {
                ToGroupedRequest atSnapshot = g.atSnapshot();
                yield GroupedToGrouped.isGroupedInput(atSnapshot.input()) ? GroupedToGrouped.open(atSnapshot, ranks)
                        : ToGrouped.open(atSnapshot, ranks);
            }
            case ToHfRequest h -> ToHf.open(h);
        };
    }

    /**
     * The ranks whose checkpoints units {@code ids} belong to, told from their folders ({@code ep-rank-R/...}); every
     * rank where an id names no rank's folder.
     */
    static IntPredicate ranksOf(Collection<String> ids) {
        Set<Integer> ranks = new HashSet<>();
        for (String id : ids) {
            Matcher m = RANK_FOLDER.matcher(id);
            if (!m.matches()) {
                return rank -> true;
            }
            ranks.add(Integer.parseInt(m.group(1)));
        }
        return ranks::contains;
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
