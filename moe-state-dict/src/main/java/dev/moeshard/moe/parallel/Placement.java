package dev.moeshard.moe.parallel;

/**
 * How a sharded tensor is laid out along one mesh dimension: cut along a tensor dimension, or held whole by every
 * rank of that mesh dimension.
 */
public sealed interface Placement permits Placement.Shard, Placement.Replicate {

    /** The tensor is cut into contiguous pieces along tensor dimension {@code dim}. */
    record Shard(int dim) implements Placement {
        public Shard {
            if (dim < 0) {
                throw new IllegalArgumentException("Shard dimension must not be negative, got " + dim);
            }
        }

        @Override
        public String toString() {
            return "Shard(dim=" + dim + ")";
        }
    }

    /** Every rank of the mesh dimension holds the whole tensor. */
    record Replicate() implements Placement {
        @Override
        public String toString() {
            return "Replicate()";
        }
    }

    static Placement shard(int dim) {
        return new Shard(dim);
    }

    static Placement replicate() {
        return new Replicate();
    }

    /** True for {@code Shard(0)}, the placement that partitions the experts axis of a grouped tensor. */
    default boolean isExpertShard() {
        return this instanceof Shard s && s.dim() == 0;
    }
}
