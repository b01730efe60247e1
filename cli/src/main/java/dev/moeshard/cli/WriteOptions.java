package dev.moeshard.cli;

import dev.moeshard.convert.OutputOptions;
import dev.moeshard.convert.UsageException;
import dev.moeshard.safetensors.ByteSize;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The options of the commands that write a checkpoint directory (to-grouped, to-hf), read the same way by both. */
final class WriteOptions {
    @Option(names = "--max-shard-size", paramLabel = "SIZE", defaultValue = "5GB",
            description = "Largest output shard, in tensor bytes (default: ${DEFAULT-VALUE}).")
    String maxShardSize;

    @Option(names = "--force", description = "Replace OUTPUT if it exists.")
    boolean force;

    @Mixin
    DeviceOptions device;

    OutputOptions toOptions() {
        return new OutputOptions(maxShardBytes(), force, device.device(), device.threads());
    }

    private long maxShardBytes() {
        try {
            long bytes = ByteSize.parse(maxShardSize);
            if (bytes <= 0) {
                throw new IllegalArgumentException("it must be positive");
            }
            return bytes;
        } catch (IllegalArgumentException e) {
            throw new UsageException("--max-shard-size '" + maxShardSize + "': " + e.getMessage());
        }
    }
}
