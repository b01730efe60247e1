package dev.moeshard.convert;

import dev.moeshard.safetensors.ShardedCheckpointWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * A planned conversion as {@link StagedRun} runs it: the checkpoints it writes, each cut by the shard layout into
 * units of one shard file, and how to write one unit, how to finish one checkpoint once all its units are done,
 * and what each unit reads. Made by {@link StagedJobs#open} from a request, with every problem of the input raised
 * while it is made.
 */
interface StagedJob extends AutoCloseable {
    /** {@code to-grouped} or {@code to-hf}. */
    String name();

    /** The plan's fingerprint: the input headers, the options that shape the output's bytes, the version. */
    String fingerprint();

    /** Every checkpoint written, each with its folder and tensors, in order. */
    List<RankUnit> checkpoints();

    /** The input byte ranges that writing {@code keys} of {@code checkpoint} reads. */
    List<ByteRange> reads(RankUnit checkpoint, Set<String> keys);

    /** Writes every tensor of {@code checkpoint} that {@code out} holds; {@code out} is committed by the caller. */
    void writeShard(RankUnit checkpoint, ShardedCheckpointWriter out, ByteProgress progress) throws IOException;

    /**
     * Writes what {@code checkpoint}'s folder {@code dir} holds besides its shards and their index: config.json and
     * the files copied beside it, the grouped manifest.
     */
    SideFiles.Copied finish(RankUnit checkpoint, Path dir) throws IOException;

    /** The files {@link #finish} writes into each folder, by name. */
    List<String> finishedFiles();

    /** How the written layout reads in messages, or null. */
    String layoutName();

    /** What was decided and why, one sentence each. */
    List<String> decisions();

    /** Checks the inputs unchanged around each unit. */
    InputGuard guard();

    @Override
    void close();
}
