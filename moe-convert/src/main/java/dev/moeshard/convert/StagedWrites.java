package dev.moeshard.convert;

import dev.moeshard.safetensors.ShardedCheckpointWriter;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Copies into the tensors of an output being written by building the bytes in a buffer a few MB in size, which
 * stays in cache, and putting each buffer-full into the file with a positional write
 * ({@link ShardedCheckpointWriter#writeViaFile}), rather than copying through the output's mapping; the writes run
 * behind the copies ({@link WriteBehind}), and a layer's copy returns once all of them are done.
 *
 * <p>A page of a new file first touched through a mapping is zeroed by the kernel, under the mapping's readahead,
 * before the copy overwrites it: nearly a third of the samples of a CPU conversion (perf) went there. A page that a write fills whole is
 * not zeroed, and the bytes are copied into the page cache once, as {@code cp} does. What cannot be staged (a target
 * that is not a contiguous run of the output, a sub-byte dtype, a slab of grouped experts with a slot filled
 * beforehand) is copied through the mapping as before.
 *
 * <p>Sources that are views of a mapped input file are read into the same buffer with positional reads first
 * ({@link SourceReads}), never through the input's mapping: a truncated input then fails the job with the file named
 * instead of faulting in a vectorized copy, and its pages cost no page fault and no resident memory.
 */
final class StagedWrites implements AutoCloseable {
    /** A buffer-full: small enough to stay in a core's share of the cache, large enough to amortize a write call. */
    private static final long CHUNK_BYTES = 4L << 20;
    /** Rows longer than this are copied through the mapping rather than given a buffer of their own. */
    private static final long MAX_ROW_BYTES = 64L << 20;
    /**
     * The most buffer memory in use at once: fewer threads build batches together where the batches are large
     * (one expert's slab of a large model is tens of MB).
     */
    private static final long BUFFERS_BYTES = 256L << 20;
    private static final long PAGE = 4096;

    private final CopyEngine engine;
    private final long chunkBytes;
    /**
     * Buffers not in use; there are never more than the threads that built batches at once and the writes behind
     * them.
     */
    private final ConcurrentLinkedDeque<Buffer> free = new ConcurrentLinkedDeque<>();
    private final WriteBehind writes;

    /** A buffer in an arena of its own, so that one outgrown can be freed; shared, as the copy threads fill it. */
    private record Buffer(Arena arena, MemorySegment segment) {}

    StagedWrites(CopyEngine engine, ShardedCheckpointWriter out) {
        this(engine, out, CHUNK_BYTES);
    }

    /** With buffer-fulls of about {@code chunkBytes} (a batch or a row may be larger). */
    StagedWrites(CopyEngine engine, ShardedCheckpointWriter out, long chunkBytes) {
        this.engine = engine;
        this.chunkBytes = chunkBytes;
        this.writes = new WriteBehind(out, engine.threads() + 2);
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
            List<Tensor> batchSources = new ArrayList<>(batch.members().size());
            batch.members().forEach(i -> batchSources.add(sources.get(i)));
            long readsAt = SourceReads.aligned(batch.bytes());
            MemorySegment region = batch.grouped().segment().asSlice(batch.start(), batch.bytes());
            jobs.add(single -> staged(readsAt + SourceReads.bytes(batchSources), region, buffer -> {
                MemorySegment staged = buffer.asSlice(0, batch.bytes());
                List<Tensor> read = SourceReads.read(batchSources, buffer.asSlice(readsAt));
                List<Tensor> stagedTargets = new ArrayList<>(batch.members().size());
                for (int i : batch.members()) {
                    stagedTargets.add(sameViewIn(staged, targets.get(i), batch));
                }
                single.copyAll(stagedTargets, read);
                return staged;
            }));
        }
        inParallel(jobs, 2 * split.largestBatch()); // each buffer holds a batch and the sources it is built from
        writes.drain();
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
        if (target.numel() == 0) {
            return; // an empty tensor of a huge shape ([2^62, 0]) has nothing to write, and no rows to loop over
        }
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
            List<Tensor> from = List.of(source.narrow(0, r, part.size(0)));
            long readsAt = SourceReads.aligned(part.byteSize());
            jobs.add(single -> staged(readsAt + SourceReads.bytes(from), part.segment(), buffer -> {
                MemorySegment staged = buffer.asSlice(0, part.byteSize());
                List<Tensor> read = SourceReads.read(from, buffer.asSlice(readsAt));
                single.copy(Tensor.wrap(staged, part.dtype(), part.sizes()), read.getFirst());
                return staged;
            }));
        }
        inParallel(jobs, 2 * rowsPerChunk * rowBytes);
        writes.drain();
    }

    @Override
    public void close() {
        writes.close(); // before the buffers it writes from are freed
        for (Buffer b = free.poll(); b != null; b = free.poll()) {
            b.arena().close();
        }
    }

    /** Runs {@code jobs} on as many of the engine's threads as buffers of {@code largest} bytes fit the budget. */
    private void inParallel(List<Consumer<CopyEngine>> jobs, long largest) {
        long fit = Math.max(1, BUFFERS_BYTES / Math.max(1, largest));
        engine.withThreads((int) Math.min(engine.threads(), fit)).runEach(jobs);
    }

    /**
     * Hands {@code build} {@code bytes} of a buffer not in use, starting at the same offset within a page as
     * {@code destination}, the mapped output they will be written to, and writes what it built there behind the
     * copies ({@link WriteBehind}), the buffer taken back once written. The kernel copies a write into the page cache
     * with one string move, which on the AMD VM ran several times slower when source and destination lay at
     * different offsets within a cache line; a direct write needs them at the same offset within a block
     * (benchmarks/RESULTS.md).
     */
    private void staged(long bytes, MemorySegment destination, Function<MemorySegment, MemorySegment> build) {
        Buffer b = free.poll();
        if (b == null || b.segment().byteSize() < bytes + PAGE) {
            if (b != null) {
                b.arena().close(); // outgrown (a batch over the chunk size): rare
            }
            Arena arena = Arena.ofShared();
            b = new Buffer(arena, arena.allocate(Math.max(bytes, 2 * chunkBytes) + PAGE, PAGE));
        }
        Buffer taken = b;
        MemorySegment built;
        try {
            long shift = Math.floorMod(destination.address() - b.segment().address(), PAGE);
            built = build.apply(b.segment().asSlice(shift, bytes));
        } catch (RuntimeException | Error e) {
            free.push(taken);
            throw e;
        }
        writes.write(destination, built, () -> free.push(taken));
    }

    /** {@code target}, a view of the batch's grouped output, as the same view of the batch's buffer. */
    private static Tensor sameViewIn(MemorySegment staged, Tensor target, StagedBatches.Batch batch) {
        long withinBatch = target.offsetWithin(batch.grouped()) - batch.start() / target.dtype().byteSize();
        return Tensor.strided(staged, target.dtype(), withinBatch, target.sizes(), target.strides());
    }
}
