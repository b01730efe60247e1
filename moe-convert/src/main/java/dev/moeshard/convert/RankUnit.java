package dev.moeshard.convert;

import dev.moeshard.moe.parallel.DeviceMesh;
import dev.moeshard.moe.parallel.ExpertRange;
import dev.moeshard.safetensors.TensorSpec;
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
}
