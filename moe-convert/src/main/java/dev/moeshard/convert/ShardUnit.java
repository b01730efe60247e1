package dev.moeshard.convert;

import dev.moeshard.safetensors.ShardLayout;
import dev.moeshard.safetensors.TensorSpec;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * One unit of a staged conversion: one shard file of one checkpoint. Units share nothing but the input they read, so
 * any number of workers can write them in any order.
 */
record ShardUnit(RankUnit checkpoint, ShardLayout layout, ShardLayout.Shard shard) {
    /** The units of {@code job}: each checkpoint's shards for {@code maxShardBytes}, in order. */
    static List<ShardUnit> of(StagedJob job, long maxShardBytes) {
        List<ShardUnit> units = new ArrayList<>();
        for (RankUnit checkpoint : job.checkpoints()) {
            ShardLayout layout = checkpoint.layout(maxShardBytes);
            for (ShardLayout.Shard shard : layout.shards()) {
                units.add(new ShardUnit(checkpoint, layout, shard));
            }
        }
        return units;
    }

    /** Its file, relative to the output: {@code [folder/]model-0000k-of-0000n.safetensors}. */
    String id() {
        return checkpoint.subdirectory() == null ? shard.fileName() : checkpoint.subdirectory() + "/" + shard.fileName();
    }

    Set<String> keys() {
        Set<String> keys = new LinkedHashSet<>();
        shard.specs().forEach(s -> keys.add(s.name()));
        return keys;
    }

    long bytes() {
        return shard.specs().stream().mapToLong(TensorSpec::byteSize).sum();
    }

    /** The unit as a plan names it. */
    WorkUnit describe(List<ByteRange> reads) {
        return new WorkUnit(id(), checkpoint.rank(), checkpoint.subdirectory(), checkpoint.range().start(),
                checkpoint.range().end(), bytes(), reads, List.of(shard.fileName()));
    }
}
