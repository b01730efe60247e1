package dev.moeshard.cli;

import dev.moeshard.safetensors.ByteSize;

/** {@code --max-shard-size} as the commands that write checkpoints read it: a positive byte size such as 5GB. */
final class ShardSizes {
    private ShardSizes() {}

    static long parse(String text) {
        try {
            long bytes = ByteSize.parse(text);
            if (bytes <= 0) {
                throw new IllegalArgumentException("it must be positive");
            }
            return bytes;
        } catch (IllegalArgumentException e) {
            throw new UsageException("--max-shard-size '" + text + "': " + e.getMessage());
        }
    }
}
