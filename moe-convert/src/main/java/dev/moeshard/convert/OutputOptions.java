package dev.moeshard.convert;

import dev.moeshard.safetensors.ByteSize;
import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.copy.CopyEngine;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;

/**
 * How every job that writes a checkpoint directory writes it: the largest shard, whether an existing output may be
 * replaced, where the copies run and on how many threads. Shared by {@link ToGroupedRequest} and
 * {@link ToHfRequest}, so that both read them the same way.
 *
 * @param maxShardBytes the largest output shard, in tensor bytes
 * @param replaceExisting whether an existing output directory is replaced (atomically, at the end)
 * @param device where the expert copies run: null chooses (the CPU, faster for file-to-file jobs than the CUDA path)
 * @param threads copy threads, or 0 for the shared engine's (every processor, or {@code -Dmoeshard.threads})
 */
public record OutputOptions(long maxShardBytes, boolean replaceExisting, Device device, int threads) {
    /** 5 GB shards, no replacing, the device chosen, the default threads. */
    public static final OutputOptions DEFAULTS = new OutputOptions(ByteSize.parse("5GB"), false, null, 0);

    public OutputOptions {
        if (maxShardBytes <= 0) {
            throw new UsageException("--max-shard-size must be positive, got " + maxShardBytes + " bytes");
        }
        if (threads < 0) {
            throw new UsageException("--threads must be at least 1, got " + threads);
        }
    }

    public OutputOptions withMaxShardBytes(long bytes) {
        return new OutputOptions(bytes, replaceExisting, device, threads);
    }

    public OutputOptions withReplaceExisting(boolean replace) {
        return new OutputOptions(maxShardBytes, replace, device, threads);
    }

    /** {@code device} null: chosen (the CPU, faster for file-to-file jobs than the CUDA path). */
    public OutputOptions withDevice(Device device) {
        return new OutputOptions(maxShardBytes, replaceExisting, device, threads);
    }

    public OutputOptions withThreads(int threads) {
        return new OutputOptions(maxShardBytes, replaceExisting, device, threads);
    }

    /** The copy engine these options ask for. */
    CopyEngine engine() {
        return CopyEngines.of(threads);
    }

    /**
     * Refuses, before any work, an {@code output} that exists (a dangling link included) unless replacing it was
     * allowed, and one that is, holds or lies inside one of {@code inputs}: replacing it would delete the input.
     */
    void requireWritable(Path output, List<Path> inputs) {
        OutputPlacement.requireApart(output, inputs);
        if (Files.exists(output, LinkOption.NOFOLLOW_LINKS) && !replaceExisting) {
            throw new UsageException(output + " already exists; pass --force to replace it");
        }
        if (Files.isSymbolicLink(output) && !Files.exists(output)) {
            throw new UsageException(output + " is a symbolic link to nothing; remove it or name another OUTPUT");
        }
    }
}
