package dev.moeshard.convert;

import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.TensorSpec;
import java.util.List;

/**
 * One checkpoint a conversion writes (one rank's, for a grouped one): its mesh (null without expert parallelism), its
 * global experts, the tensors it will hold in order, and the folder under the output it is written to (null: the
 * output itself). Its shard files are the units workers share ({@link ShardUnit}).
 */
record RankUnit(int rank, DeviceMesh mesh, ExpertRange range, List<TensorSpec> specs, String subdirectory) {
    RankUnit {
        specs = List.copyOf(specs);
    }

    long bytes() {
        return specs.stream().mapToLong(TensorSpec::byteSize).sum();
    }
}
