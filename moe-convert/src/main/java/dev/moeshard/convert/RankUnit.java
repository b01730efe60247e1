package dev.moeshard.convert;

import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.ShardLayout;
import dev.moeshard.safetensors.TensorSpec;
import dev.moeshard.safetensors.TensorSplit;
import java.util.List;

/**
 * One checkpoint a conversion writes (one rank's, for a grouped one): its mesh (null without expert parallelism), its
 * global experts, the tensors it will hold in order, and the folder under the output it is written to (null: the
 * output itself). Its shard files are the units workers share ({@link ShardUnit}).
 *
 * @param splits tensors of {@code specs} written as parts of one tensor of the file ({@link IdentityExpertRows})
 */
record RankUnit(int rank, DeviceMesh mesh, ExpertRange range, List<TensorSpec> specs, String subdirectory,
                List<TensorSplit> splits) {
    RankUnit {
        specs = List.copyOf(specs);
        splits = List.copyOf(splits);
    }

    RankUnit(int rank, DeviceMesh mesh, ExpertRange range, List<TensorSpec> specs, String subdirectory) {
        this(rank, mesh, range, specs, subdirectory, List.of());
    }

    /** The tensors its files list: each split's parts count once, as their whole. */
    int tensorCount() {
        return specs.size() - splits.stream().mapToInt(s -> s.parts().size() - 1).sum();
    }

    long bytes() {
        return specs.stream().mapToLong(TensorSpec::byteSize).sum();
    }

    /** Its shard files for {@code maxShardBytes}: the one layout its workers, its writers and its index agree on. */
    ShardLayout layout(long maxShardBytes) {
        return ShardLayout.of(specs, maxShardBytes, splits);
    }
}
