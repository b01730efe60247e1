package dev.moeshard.convert;

import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.SafetensorsIndex;
import dev.moeshard.safetensors.ShardLayout;
import dev.moeshard.safetensors.TensorSpec;
import java.util.ArrayList;
import java.util.List;

/**
 * One rank's part of a grouped conversion: its mesh (null without expert parallelism), its global experts, the
 * tensors its checkpoint will hold in order, and the folder under the output it is written to (null: the output).
 */
record RankUnit(int rank, DeviceMesh mesh, ExpertRange range, List<TensorSpec> specs, String subdirectory) {
    RankUnit {
        specs = List.copyOf(specs);
    }

    long bytes() {
        return specs.stream().mapToLong(TensorSpec::byteSize).sum();
    }

    /**
     * The unit as a plan names it: {@code reads} from the input, and the files it writes into its folder — its
     * shards (with their index when there are several), {@code extraFiles}, and the manifest.
     */
    WorkUnit describe(List<ByteRange> reads, long maxShardBytes, List<String> extraFiles) {
        ShardLayout layout = ShardLayout.of(specs, maxShardBytes);
        List<String> writes = new ArrayList<>();
        layout.shards().forEach(s -> writes.add(s.fileName()));
        if (layout.isSharded()) {
            writes.add(SafetensorsIndex.FILE_NAME);
        }
        writes.addAll(extraFiles);
        writes.add(GroupedManifest.FILE_NAME);
        return new WorkUnit(mesh == null ? "all" : "rank-" + rank, rank, subdirectory, range.start(),
                range.end(), bytes(), reads, writes);
    }
}
