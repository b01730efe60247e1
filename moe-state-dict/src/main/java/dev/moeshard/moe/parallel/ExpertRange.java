package dev.moeshard.moe.parallel;

import java.util.List;
import java.util.stream.IntStream;

/**
 * The contiguous experts {@code [start, end)} that one rank of an expert-parallel group owns.
 *
 * <p>With {@code per = E / W} and {@code rem = E % W}, ranks below {@code rem} own {@code per + 1} experts starting
 * at {@code r * (per + 1)}, the others {@code per} starting at {@code r * per + rem}: 8 experts on 3 ranks are
 * 3 / 3 / 2. Every expert is owned by exactly one rank, and no rank owns more than one expert above another.
 */
public record ExpertRange(int start, int end) {

    public ExpertRange {
        if (start < 0 || end < start) {
            throw new IllegalArgumentException("invalid expert range [" + start + ", " + end + ")");
        }
    }

    /** Every one of {@code numExperts} experts: what a rank without expert parallelism owns. */
    public static ExpertRange all(int numExperts) {
        return new ExpertRange(0, numExperts);
    }

    /** The experts rank {@code rank} of {@code worldSize} owns. */
    public static ExpertRange forRank(int rank, int worldSize, int numExperts) {
        if (worldSize <= 0 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " is outside an expert-parallel group of " + worldSize);
        }
        if (numExperts < 0) {
            throw new IllegalArgumentException("number of experts must not be negative, got " + numExperts);
        }
        int per = numExperts / worldSize;
        int rem = numExperts % worldSize;
        if (rank < rem) {
            int start = rank * (per + 1);
            return new ExpertRange(start, start + per + 1);
        }
        int start = rank * per + rem;
        return new ExpertRange(start, start + per);
    }

    /**
     * The experts this rank of {@code mesh} owns: partitioned by the {@code ep} dimension when the mesh has one,
     * else by the whole mesh; all experts when {@code mesh} is null.
     */
    public static ExpertRange forMesh(DeviceMesh mesh, int numExperts) {
        if (mesh == null) {
            return all(numExperts);
        }
        if (mesh.hasDim("ep")) {
            return forRank(mesh.localRank("ep"), mesh.size("ep"), numExperts);
        }
        return forRank(mesh.rank(), mesh.size(), numExperts);
    }

    /** Whether this rank should load expert {@code expertId}: start inclusive, end exclusive. */
    public boolean contains(int expertId) {
        return expertId >= start && expertId < end;
    }

    public int count() {
        return end - start;
    }

    /** The global ids, ascending. */
    public List<Integer> ids() {
        return IntStream.range(start, end).boxed().toList();
    }
}
