package dev.moeshard.cli;

import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * Copies into the tensors of an output being written by building the bytes in a buffer a few MB in size, which
 * stays in cache, and putting each buffer-full into the file with a positional write
 * ({@link ShardedCheckpointWriter#writeViaFile}), rather than copying through the output's mapping.
 *
 * <p>A page of a new file first touched through a mapping is zeroed by the kernel, under the mapping's readahead,
 * before the copy overwrites it: a third of a CPU conversion's time went there. A page that a write fills whole is
 * not zeroed, and the bytes are copied into the page cache once, as {@code cp} does. What cannot be staged (a target
 * that is not a contiguous run of the output, a sub-byte dtype, a slab of grouped experts with a slot filled
 * beforehand) is copied through the mapping as before.
 */
final class StagedWrites implements AutoCloseable {
    /** A buffer-full: small enough to stay in a core's share of the cache, large enough to amortize a write call. */
    private static final long CHUNK_BYTES = 4L << 20;
    /** Rows longer than this are copied through the mapping rather than given a buffer of their own. */
    private static final long MAX_ROW_BYTES = 64L << 20;

    private final CopyEngine engine;
    private final ShardedCheckpointWriter out;
    private final long chunkBytes;
    /** One buffer per thread that builds batches; the copy threads of a batch read it, so a shared arena. */
    private final Arena arena = Arena.ofShared();
    private final Map<Thread, MemorySegment> buffers = new ConcurrentHashMap<>();

    StagedWrites(CopyEngine engine, ShardedCheckpointWriter out) {
        this(engine, out, CHUNK_BYTES);
    }

    /** With buffer-fulls of about {@code chunkBytes} (a batch or a row may be larger). */
    StagedWrites(CopyEngine engine, ShardedCheckpointWriter out, long chunkBytes) {
        this.engine = engine;
        this.out = out;
        this.chunkBytes = chunkBytes;
    }

    /**
     * Copies {@code sources[i]} into {@code targets[i]}, every target a view of one of {@code groupedOutputs}: the
     * covered slabs batch by batch ({@link StagedBatches}), the batches shared among the engine's threads, each
     * built and written by one; the rest through the mapping.
     */
    void copyLayer(List<Tensor> targets, List<Tensor> sources, List<Tensor> groupedOutputs) {
        StagedBatches.Split split = StagedBatches.split(targets, groupedOutputs, chunkBytes);
        List<Consumer<CopyEngine>> jobs = new ArrayList<>(split.batches().size());
        for (StagedBatches.Batch batch : split.batches()) {
            jobs.add(single -> {
                MemorySegment staged = buffer(batch.bytes());
                List<Tensor> stagedTargets = new ArrayList<>(batch.members().size());
                List<Tensor> batchSources = new ArrayList<>(batch.members().size());
                for (int i : batch.members()) {
                    stagedTargets.add(sameViewIn(staged, targets.get(i), batch));
                    batchSources.add(sources.get(i));
                }
                single.copyAll(stagedTargets, batchSources);
                out.writeViaFile(batch.grouped().segment().asSlice(batch.start(), batch.bytes()), staged);
            });
        }
        engine.runEach(jobs);
        List<Tensor> directTargets = new ArrayList<>(split.direct().size());
        List<Tensor> directSources = new ArrayList<>(split.direct().size());
        for (int i : split.direct()) {
            directTargets.add(targets.get(i));
            directSources.add(sources.get(i));
        }
        engine.copyAll(directTargets, directSources);
    }

    /** Copies {@code source} into {@code target}, a tensor of the output or a run of whole rows of one. */
    void copy(Tensor target, Tensor source) {
        long rows = target.dim() == 0 ? 0 : target.size(0);
        if (rows == 0 || !target.isContiguous() || !target.dtype().isByteAligned() || !source.dtype().isByteAligned()
                || !target.storage().isMapped() || !Arrays.equals(target.sizes(), source.sizes())
                || target.byteSize() / rows > MAX_ROW_BYTES) {
            engine.copy(target, source);
            return;
        }
        long rowBytes = target.byteSize() / rows;
        long rowsPerChunk = Math.max(1, chunkBytes / Math.max(1, rowBytes));
        List<Consumer<CopyEngine>> jobs = new ArrayList<>();
        for (long r = 0; r < rows; r += rowsPerChunk) {
            Tensor part = target.narrow(0, r, Math.min(rowsPerChunk, rows - r));
            Tensor from = source.narrow(0, r, part.size(0));
            jobs.add(single -> {
                MemorySegment staged = buffer(part.byteSize());
                single.copy(Tensor.wrap(staged, part.dtype(), part.sizes()), from);
                out.writeViaFile(part.segment(), staged);
            });
        }
        engine.runEach(jobs);
    }

    @Override
    public void close() {
        buffers.clear();
        arena.close();
    }

    /** The first {@code bytes} of this thread's buffer, grown (never shrunk) to hold them. */
    private MemorySegment buffer(long bytes) {
        MemorySegment mine = buffers.get(Thread.currentThread());
        if (mine == null || mine.byteSize() < bytes) {
            // A larger batch is rare (a slab over the chunk size); the smaller buffer stays until close.
            mine = arena.allocate(Math.max(bytes, chunkBytes), 64);
            buffers.put(Thread.currentThread(), mine);
        }
        return mine.asSlice(0, bytes);
    }

    /** {@code target}, a view of the batch's grouped output, as the same view of the batch's buffer. */
    private static Tensor sameViewIn(MemorySegment staged, Tensor target, StagedBatches.Batch batch) {
        long firstElement = batch.grouped().offset() + batch.start() / target.dtype().byteSize();
        return Tensor.strided(staged, target.dtype(), target.offset() - firstElement, target.sizes(), target.strides());
    }
}
