package dev.moeshard.safetensors;

import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes a checkpoint split into shards by a {@link ShardLayout}: each shard through a {@link SafetensorsWriter}, then
 * {@code model.safetensors.index.json}, last, so that an index on disk always describes shards that are complete.
 *
 * <p>All shards are created (under temporary names) and mapped when the writer opens, so tensors can be written in
 * any order and from several threads. {@link #commit()} renames them into place one by one, then writes the index;
 * a failure part-way can leave finished shards without an index, which readers reject, but never a partial file.
 * A single shard is written as {@code model.safetensors} with no index, and a stale index in the directory is removed
 * so that it cannot contradict the new file.
 */
public final class ShardedCheckpointWriter implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ShardedCheckpointWriter.class);

    private final Path directory;
    private final ShardLayout layout;
    private final List<SafetensorsWriter> writers;
    private final Map<String, SafetensorsWriter> byKey;
    private final List<Future<?>> pendingWriteBacks = new ArrayList<>();
    /** Whether this writer holds every shard of the layout, and so writes (or removes) the index on commit. */
    private final boolean whole;
    private ExecutorService writeBack;

    private ShardedCheckpointWriter(Path directory, ShardLayout layout, List<SafetensorsWriter> writers, boolean whole) {
        this.directory = directory;
        this.layout = layout;
        this.whole = whole;
        this.writers = List.copyOf(writers);
        Map<String, SafetensorsWriter> map = new HashMap<>();
        for (SafetensorsWriter w : writers) {
            for (TensorEntry e : w.plan().entries()) {
                map.put(e.name(), w);
            }
        }
        this.byKey = map;
    }

    /**
     * Creates and maps every shard of {@code layout} in {@code directory} (created if missing), each with
     * {@code metadata} as its {@code __metadata__}.
     */
    public static ShardedCheckpointWriter open(Path directory, ShardLayout layout, Map<String, String> metadata) {
        return open(directory, layout, layout.shards(), metadata);
    }

    /**
     * Creates and maps only {@code shard} of {@code layout} in {@code directory}: one independent piece of a
     * checkpoint that other writers (other threads, processes or machines) complete. Only its tensors can be written
     * ({@link #holds}); {@link #commit()} renames it into place and leaves the index alone, which whoever assembles
     * the shards writes ({@link SafetensorsIndex#encode}).
     */
    public static ShardedCheckpointWriter openShard(Path directory, ShardLayout layout, ShardLayout.Shard shard,
                                                    Map<String, String> metadata) {
        if (!layout.shards().contains(shard)) {
            throw new IllegalArgumentException(shard.fileName() + " is not a shard of this layout");
        }
        return open(directory, layout, List.of(shard), metadata);
    }

    private static ShardedCheckpointWriter open(Path directory, ShardLayout layout, List<ShardLayout.Shard> shards,
                                                Map<String, String> metadata) {
        try {
            Files.createDirectories(directory);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create checkpoint directory " + directory, e);
        }
        List<SafetensorsWriter> writers = new ArrayList<>(shards.size());
        try {
            for (ShardLayout.Shard shard : shards) {
                writers.add(SafetensorsWriter.open(directory.resolve(shard.fileName()),
                        SafetensorsWriter.plan(shard.specs(), metadata, shard.splits())));
            }
        } catch (RuntimeException e) {
            for (SafetensorsWriter w : writers) {
                try {
                    w.close();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
        return new ShardedCheckpointWriter(directory, layout, writers, shards.size() == layout.shards().size());
    }

    /**
     * Writes {@code tensors}, in their iteration order, as a checkpoint of shards of at most {@code maxShardBytes}
     * tensor bytes each in {@code directory}.
     */
    public static void write(Path directory, Map<String, Tensor> tensors, long maxShardBytes,
            Map<String, String> metadata) {
        List<TensorSpec> specs = new ArrayList<>(tensors.size());
        tensors.forEach((name, t) -> specs.add(TensorSpec.of(name, t)));
        try (ShardedCheckpointWriter out = open(directory, ShardLayout.of(specs, maxShardBytes), metadata)) {
            tensors.forEach(out::write);
            out.commit();
        }
    }

    public ShardLayout layout() {
        return layout;
    }

    /** Whether tensor {@code name} lies in a shard this writer writes. */
    public boolean holds(String name) {
        return byKey.containsKey(name);
    }

    /** The destination view of tensor {@code name} in its shard's mapping; see {@link SafetensorsWriter#tensor}. */
    public Tensor tensor(String name) {
        return writerOf(name).tensor(name);
    }

    /** Copies {@code source} into tensor {@code name}; see {@link SafetensorsWriter#write}. */
    public void write(String name, Tensor source) {
        writerOf(name).write(name, source);
    }

    /**
     * Writes {@code bytes} where {@code region}, a slice of a tensor handed out by {@link #tensor}, lies in its shard,
     * with a positional write; see {@link SafetensorsWriter#writeViaFile}.
     *
     * @throws IllegalArgumentException if no shard's tensor data holds {@code region}
     */
    public void writeViaFile(MemorySegment region, MemorySegment bytes) {
        holderOf(region).writeViaFile(region, bytes);
    }

    /**
     * Each committed shard's {@link BlockChecksums}, by the shard's path, taken as the shards were written.
     *
     * @throws IllegalStateException before {@link #commit()}
     */
    public Map<Path, List<Integer>> blockChecksums() {
        Map<Path, List<Integer>> sums = new LinkedHashMap<>();
        for (SafetensorsWriter w : writers) {
            sums.put(w.path(), w.blockChecksums());
        }
        return sums;
    }

    /**
     * Starts writing {@code region}, a slice of a tensor handed out by {@link #tensor} that is complete, back to
     * disk on a background thread, so that the disk works while the next tensors are built and {@link #commit()}
     * waits for less. Regions are written back one at a time, in the order given.
     *
     * @throws IllegalArgumentException if no shard's tensor data holds {@code region}
     */
    public void startWriteBack(MemorySegment region) {
        startWriteBack(List.of(region));
    }

    /**
     * As {@link #startWriteBack(MemorySegment)} for several regions at once: in each shard, everything from the first
     * to the last byte they cover, in one write-back (each costs the file system a journal commit, so many small
     * tensors are better written back together; bytes in between that are not written yet are simply not dirty).
     *
     * @throws IllegalArgumentException if no shard's tensor data holds one of the regions
     */
    public synchronized void startWriteBack(List<MemorySegment> regions) {
        Map<SafetensorsWriter, long[]> spans = new LinkedHashMap<>();
        for (MemorySegment region : regions) {
            long[] span = spans.computeIfAbsent(holderOf(region), w -> new long[] {Long.MAX_VALUE, Long.MIN_VALUE});
            span[0] = Math.min(span[0], region.address());
            span[1] = Math.max(span[1], region.address() + region.byteSize());
        }
        if (writeBack == null && !spans.isEmpty()) {
            writeBack = Executors.newSingleThreadExecutor(task -> {
                Thread t = new Thread(task, "moeshard-write-back");
                t.setDaemon(true);
                return t;
            });
        }
        spans.forEach((w, span) -> {
            MemorySegment covered = w.dataBetween(span[0], span[1]);
            pendingWriteBacks.add(writeBack.submit(() -> w.force(covered)));
        });
    }

    /**
     * Commits every shard, then writes the index (or, for a single shard, removes a stale one); a writer of one shard
     * of several ({@link #openShard}) commits its shard only.
     *
     * @throws IllegalStateException naming a shard's tensors that were never written
     * @throws UncheckedIOException if a file cannot be written
     */
    public void commit() {
        awaitWriteBacks();
        // Check all shards before renaming any, so that a missing tensor leaves no finished shard behind.
        for (SafetensorsWriter w : writers) {
            w.checkComplete();
        }
        for (SafetensorsWriter w : writers) {
            w.commit();
        }
        if (!whole) {
            LOG.debug("wrote {} of {} shards to {}", writers.size(), layout.shards().size(), directory);
            return;
        }
        Path indexFile = directory.resolve(SafetensorsIndex.FILE_NAME);
        try {
            if (layout.isSharded()) {
                AtomicReplace.write(indexFile, SafetensorsIndex.encode(layout));
            } else {
                Files.deleteIfExists(indexFile);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(indexFile + ": cannot write index: " + e.getMessage(), e);
        }
        LOG.debug("wrote {} shards and {} bytes of tensors to {}", writers.size(), layout.totalSize(), directory);
    }

    /** Deletes the temporary files of shards not committed. */
    @Override
    public void close() {
        RuntimeException failure = null;
        try {
            awaitWriteBacks(); // a shard's mapping must not go while a write-back still uses it
        } catch (RuntimeException e) {
            failure = e;
        }
        for (SafetensorsWriter w : writers) {
            try {
                w.close();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** Waits for every write-back started; rethrows the first failure. */
    private synchronized void awaitWriteBacks() {
        RuntimeException failure = null;
        for (Future<?> pending : pendingWriteBacks) {
            try {
                pending.get();
            } catch (ExecutionException e) {
                RuntimeException cause = e.getCause() instanceof RuntimeException r ? r
                        : new IllegalStateException(directory + ": write-back failed", e.getCause());
                if (failure == null) {
                    failure = cause;
                } else {
                    failure.addSuppressed(cause);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(directory + ": interrupted while waiting for write-back", e);
            }
        }
        pendingWriteBacks.clear();
        if (writeBack != null) {
            writeBack.shutdown();
            writeBack = null;
        }
        if (failure != null) {
            throw failure;
        }
    }

    private SafetensorsWriter holderOf(MemorySegment region) {
        for (SafetensorsWriter w : writers) {
            if (w.holds(region)) {
                return w;
            }
        }
        throw new IllegalArgumentException(directory + ": a region of " + region.byteSize() + " bytes at address "
                + region.address() + " lies in none of the " + writers.size() + " shards being written");
    }

    private SafetensorsWriter writerOf(String name) {
        SafetensorsWriter w = byKey.get(name);
        if (w == null) {
            throw new IllegalArgumentException(directory + ": tensor '" + name + "' is not in the shard layout");
        }
        return w;
    }
}
