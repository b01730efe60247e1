package dev.moeshard.safetensors;

import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A checkpoint as one set of named tensors, whatever its files: a directory with
 * {@code model.safetensors.index.json} and its shards, a directory of {@code *.safetensors} files and no index (their
 * union), or a single {@code .safetensors} file.
 *
 * <p>Opening reads and validates every header and the index, and checks that they agree: every shard exists, every
 * key is in the shard the index names, and no key is in two files. No data is mapped yet, so a planner can use a
 * checkpoint for its headers alone; a file is mapped the first time one of its tensors is asked for, and stays mapped
 * until {@link #close()}. Tensors may be read from several threads.
 *
 * <p>Keys come file by file, files in name order (the shard order for {@code model-0000k-of-0000n} names), and in
 * header order within a file.
 */
public final class Checkpoint implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Checkpoint.class);

    private final Path path;
    private final SafetensorsIndex index;
    private final List<SafetensorsHeader> headers;
    private final Map<String, SafetensorsHeader> byKey;
    private final List<String> keys;
    private final Map<Path, SafetensorsFile> mapped = new HashMap<>();
    /** Each file's modification time when its header was read, to tell a file changed under the conversion. */
    private final Map<Path, FileTime> modified = new HashMap<>();
    /** The tensors of the files handed out as their parts ({@link #split}). */
    private final List<TensorSplit> splits = new ArrayList<>();
    private boolean closed;

    private Checkpoint(Path path, SafetensorsIndex index, List<SafetensorsHeader> headers,
            Map<String, SafetensorsHeader> byKey) {
        this.path = path;
        this.index = index;
        this.headers = List.copyOf(headers);
        this.byKey = Collections.unmodifiableMap(byKey);
        this.keys = List.copyOf(byKey.keySet());
        for (SafetensorsHeader header : headers) {
            modified.put(header.path(), lastModified(header.path()));
        }
    }

    private static FileTime lastModified(Path file) {
        try {
            return Files.getLastModifiedTime(file);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read its attributes: " + e.getMessage(), e);
        }
    }

    /**
     * Checks that every file is still as its header was read: same size, same modification time. A file truncated or
     * rewritten while it is mapped would hand out other bytes, or fault on access.
     *
     * @throws UncheckedIOException naming the first file that changed and how
     */
    public void requireUnchanged() {
        for (SafetensorsHeader header : headers) {
            Path file = header.path();
            long size;
            FileTime time;
            try {
                size = Files.size(file);
                time = Files.getLastModifiedTime(file);
            } catch (IOException e) {
                throw new UncheckedIOException(file + ": changed while it was read: " + e.getMessage(), e);
            }
            if (size != header.fileSize() || !time.equals(modified.get(file))) {
                String message = file + ": changed while it was read: it had " + header.fileSize()
                        + " bytes (modified " + modified.get(file) + "), now " + size + " bytes (modified " + time
                        + "); nothing was written";
                throw new UncheckedIOException(message, new IOException(message));
            }
        }
    }

    /**
     * Opens a checkpoint directory or a single safetensors file and validates all its headers.
     *
     * @throws SafetensorsFormatException if a file or the index is invalid, or they disagree
     * @throws UncheckedIOException if something cannot be read
     */
    public static Checkpoint open(Path path) {
        if (!Files.isDirectory(path)) {
            SafetensorsHeader header = SafetensorsHeader.read(path);
            return new Checkpoint(path, null, List.of(header), union(List.of(header)));
        }
        Path indexFile = path.resolve(SafetensorsIndex.FILE_NAME);
        Checkpoint checkpoint;
        if (InputFile.exists(indexFile)) {
            checkpoint = openIndexed(path, SafetensorsIndex.read(indexFile));
        } else {
            List<SafetensorsHeader> headers = listed(path);
            checkpoint = new Checkpoint(path, null, headers, union(headers));
        }
        LOG.debug("opened {}: {} tensors in {} files", path, checkpoint.keys.size(), checkpoint.headers.size());
        return checkpoint;
    }

    private static Checkpoint openIndexed(Path dir, SafetensorsIndex index) {
        Path indexFile = index.path();
        List<String> names = new ArrayList<>(index.shardNames());
        Collections.sort(names);
        List<SafetensorsHeader> headers = new ArrayList<>(names.size());
        Map<String, SafetensorsHeader> byName = new HashMap<>();
        for (String name : names) {
            Path shard = dir.resolve(name);
            if (!InputFile.exists(shard)) {
                throw new SafetensorsFormatException(indexFile, index.keysOf(name).getFirst(), "mapped to shard '" + name
                        + "', which does not exist in " + dir);
            }
            SafetensorsHeader header = SafetensorsHeader.read(shard);
            headers.add(header);
            byName.put(name, header);
        }
        // Every key of the index is where the index says ...
        index.weightMap().forEach((key, name) -> {
            if (!byName.get(name).contains(key)) {
                throw new SafetensorsFormatException(indexFile, key, "mapped to shard '" + name
                        + "', which does not hold it");
            }
        });
        // ... and nowhere else: a key the index does not know, or knows in another shard, would be silently shadowed.
        for (SafetensorsHeader header : headers) {
            String name = header.path().getFileName().toString();
            for (String key : header.keys()) {
                String mappedTo = index.weightMap().get(key);
                if (mappedTo == null) {
                    throw new SafetensorsFormatException(indexFile, key, "shard '" + name
                            + "' holds it, but the index does not list it");
                }
                if (!mappedTo.equals(name)) {
                    throw new SafetensorsFormatException(indexFile, key, "the same key is in two shards: '" + mappedTo
                            + "' (as the index says) and '" + name + "'");
                }
            }
        }
        return new Checkpoint(dir, index, headers, union(headers));
    }

    private static List<SafetensorsHeader> listed(Path dir) {
        List<Path> files;
        try (Stream<Path> entries = Files.list(dir)) {
            files = entries.filter(p -> {
                String name = p.getFileName().toString();
                // Hidden files include the writer's unfinished ".name.tmp-*" outputs. Anything else by that name is
                // read, and refused by the header reader if it is not a regular file: a shard skipped would be a
                // layer missing from the output.
                return name.endsWith(".safetensors") && !name.startsWith(".");
            }).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot list directory: " + e.getMessage(), e);
        }
        if (files.isEmpty()) {
            throw new SafetensorsFormatException(dir, "no " + SafetensorsIndex.FILE_NAME
                    + " and no *.safetensors files in this directory");
        }
        return files.stream().map(SafetensorsHeader::read).toList();
    }

    private static Map<String, SafetensorsHeader> union(List<SafetensorsHeader> headers) {
        Map<String, SafetensorsHeader> byKey = new LinkedHashMap<>();
        for (SafetensorsHeader header : headers) {
            for (String key : header.keys()) {
                SafetensorsHeader first = byKey.putIfAbsent(key, header);
                if (first != null) {
                    throw new SafetensorsFormatException(header.path(), key, "the same key is also in "
                            + first.path().getFileName());
                }
            }
        }
        return byKey;
    }

    /**
     * This checkpoint with each tensor of {@code splits} handed out as its parts ({@link TensorSplit}), over the same
     * files: a new checkpoint that maps them itself, so this one is closed as before.
     *
     * @throws SafetensorsFormatException if a tensor to split is missing, of another dtype or shape, or a part's name
     *     is taken
     */
    public Checkpoint split(List<TensorSplit> splits) {
        List<SafetensorsHeader> described = new ArrayList<>(headers);
        for (TensorSplit split : splits) {
            int i = headers.indexOf(header(split.whole().name()));
            described.set(i, described.get(i).split(split));
        }
        Checkpoint out = new Checkpoint(path, index, described, union(described));
        out.modified.putAll(modified);
        out.splits.addAll(this.splits);
        out.splits.addAll(splits);
        return out;
    }

    /** The tensors of the files that this checkpoint hands out as their parts ({@link #split}); none when opened. */
    public List<TensorSplit> splits() {
        return List.copyOf(splits);
    }

    // ------------------------------------------------------------------------------------------------ accessors

    /** The directory or file this checkpoint was opened from. */
    public Path path() {
        return path;
    }

    /** The index, for a checkpoint opened through one. */
    public Optional<SafetensorsIndex> index() {
        return Optional.ofNullable(index);
    }

    /** The safetensors files, in name order. */
    public List<Path> files() {
        return headers.stream().map(SafetensorsHeader::path).toList();
    }

    /** The validated header of every file, in name order. */
    public List<SafetensorsHeader> headers() {
        return headers;
    }

    /**
     * The {@code __metadata__} of the first file. HuggingFace writes the same metadata ({@code {"format": "pt"}}) into
     * every shard; the index's own metadata is {@link SafetensorsIndex#metadata()}.
     */
    public Map<String, String> metadata() {
        return headers.isEmpty() ? Map.of() : headers.getFirst().metadata();
    }

    /** All tensor names: file by file in name order, header order within a file. */
    public List<String> keys() {
        return keys;
    }

    public boolean contains(String key) {
        return byKey.containsKey(key);
    }

    /** The header entry of {@code key}; its offsets are relative to the data section of {@link #fileOf}. */
    public TensorEntry entry(String key) {
        return header(key).entry(key);
    }

    /** The file that holds {@code key}. */
    public Path fileOf(String key) {
        return header(key).path();
    }

    /**
     * Tensor {@code key} as a view of its file's mapping (no copy), mapping the file on first use. Valid until this
     * checkpoint is closed.
     */
    public Tensor tensor(String key) {
        SafetensorsHeader header = header(key);
        return mapping(header).tensor(key);
    }

    /** Where tensor {@code key}'s bytes start in {@link #fileOf its file}: the data section's offset plus its begin. */
    public long fileOffsetOf(String key) {
        SafetensorsHeader header = header(key);
        return header.dataOffset() + header.entry(key).begin();
    }

    /**
     * Every tensor as a view of its file's mapping, in this checkpoint's key order. Mapping reads nothing: only the
     * pages a copy touches are ever loaded. Valid until this checkpoint is closed.
     */
    public Map<String, Tensor> tensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String key : keys) {
            out.put(key, tensor(key));
        }
        return out;
    }

    private SafetensorsHeader header(String key) {
        SafetensorsHeader header = byKey.get(key);
        if (header == null) {
            throw new SafetensorsFormatException(index != null ? index.path() : path, key,
                    "no such tensor in this checkpoint (" + keys.size() + " tensors in " + headers.size() + " files)");
        }
        return header;
    }

    private synchronized SafetensorsFile mapping(SafetensorsHeader header) {
        if (closed) {
            throw new IllegalStateException(path + ": checkpoint is closed");
        }
        return mapped.computeIfAbsent(header.path(), p -> SafetensorsFile.open(header));
    }

    /** Unmaps every mapped file; tensors handed out before must not be used afterwards. */
    @Override
    public synchronized void close() {
        closed = true;
        RuntimeException failure = null;
        for (SafetensorsFile file : mapped.values()) {
            try {
                file.close();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        mapped.clear();
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return "Checkpoint(" + path + ", " + keys.size() + " tensors in " + headers.size() + " files)";
    }
}
