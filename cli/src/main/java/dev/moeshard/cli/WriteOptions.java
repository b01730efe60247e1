package dev.moeshard.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options of the commands that write a checkpoint directory (to-grouped, to-hf), read the same way by both. */
final class WriteOptions {
    @Option(names = "--max-shard-size", paramLabel = "SIZE", defaultValue = "5GB",
            description = "Largest output shard, in tensor bytes (default: ${DEFAULT-VALUE}).")
    String maxShardSize;

    @Option(names = "--force", description = "Replace OUTPUT if it exists.")
    boolean force;

    @Option(names = "--quiet", description = "Print nothing but errors.")
    boolean quiet;

    long maxShardBytes() {
        return ShardSizes.parse(maxShardSize);
    }

    /** Refuses an existing {@code output} unless --force was given (exit code 2, before any work). */
    void requireWritable(Path output) {
        if (Files.exists(output) && !force) {
            throw new UsageException(output + " already exists; pass --force to replace it");
        }
    }

    Progress progress(PrintWriter err) {
        return new Progress(err, quiet);
    }
}
