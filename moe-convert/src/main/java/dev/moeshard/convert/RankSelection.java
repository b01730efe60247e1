package dev.moeshard.convert;

import dev.moeshard.moe.parallel.DeviceMesh;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Which expert-parallel ranks a conversion writes: none (one checkpoint with every expert), one rank of a group, or
 * every rank of a group, each into {@code ep-rank-R/} under the output. The one place that turns that choice into the
 * list of ranks, their meshes and their folders, for every job that writes grouped checkpoints.
 *
 * @param size the expert-parallel group size W, or 0 without expert parallelism
 * @param rank the one rank written, or -1 for every rank (or without expert parallelism)
 */
public record RankSelection(int size, int rank) {
    public RankSelection {
        if (size < 0 || (size == 0 && rank != -1)) {
            throw new UsageException("--ep-rank and --all-ranks need --ep-size");
        }
        if (size > 0 && (rank < -1 || rank >= size)) {
            throw new UsageException("--ep-rank must lie in [0, " + size + "), got " + rank);
        }
    }

    /** No expert parallelism: one checkpoint holding every expert. */
    public static RankSelection none() {
        return new RankSelection(0, -1);
    }

    /** Rank {@code rank} of a group of {@code size}, written into the output itself. */
    public static RankSelection one(int size, int rank) {
        requirePositive(size);
        if (rank < 0) {
            throw new UsageException("--ep-rank must lie in [0, " + size + "), got " + rank);
        }
        return new RankSelection(size, rank);
    }

    /** Every rank of a group of {@code size}, rank R into {@code OUTPUT/ep-rank-R/}. */
    public static RankSelection all(int size) {
        requirePositive(size);
        return new RankSelection(size, -1);
    }

    private static void requirePositive(int size) {
        if (size < 1) {
            throw new UsageException("--ep-size must be at least 1, got " + size);
        }
    }

    /** Whether experts are split over ranks at all. */
    public boolean expertParallel() {
        return size > 0;
    }

    /** Whether every rank is written, each into its own folder. */
    public boolean allRanks() {
        return size > 0 && rank == -1;
    }

    /** The ranks written, in order ([0] without expert parallelism). */
    public List<Integer> ranks() {
        if (!expertParallel()) {
            return List.of(0);
        }
        return allRanks() ? IntStream.range(0, size).boxed().toList() : List.of(rank);
    }

    /** Rank {@code r}'s mesh, or null without expert parallelism. */
    public DeviceMesh mesh(int r) {
        return expertParallel() ? DeviceMesh.expertParallel(size, r) : null;
    }

    /** The folder under the output that rank {@code r} is written to, or null for the output itself. */
    public String subdirectory(int r) {
        return allRanks() ? "ep-rank-" + r : null;
    }

    /** The problem with converting a model of {@code experts} experts this way, or null when there is none. */
    String tooManyRanks(int experts) {
        return expertParallel() && size > experts
                ? "--ep-size " + size + " is more ranks than the model's " + experts + " experts" : null;
    }
}
