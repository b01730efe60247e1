package dev.moeshard.safetensors;

import dev.moeshard.tensor.Tensor;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentSkipListMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An open safetensors file: its validated header and one read-only mapping of the whole file.
 *
 * <p>The file is mapped once, through an {@link Arena} rather than a {@code MappedByteBuffer}, because a buffer is
 * limited to 2 GiB and is unmapped only by the garbage collector; a segment has a {@code long} size and is unmapped
 * when this file is closed. The arena is shared, so tensors can be read from several threads at once. Tensors are
 * views of the mapping: reading one copies nothing, and a tensor must not be used after {@link #close()}.
 */
public final class SafetensorsFile implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SafetensorsFile.class);

    /** Every open file by the address its mapping starts at, so that a view can be traced back to its file. */
    private static final ConcurrentSkipListMap<Long, SafetensorsFile> BY_ADDRESS = new ConcurrentSkipListMap<>();

    private final SafetensorsHeader header;
    private final Arena arena;
    private final MemorySegment mapping;
    private final MemorySegment data;
    /** Kept open for positional reads ({@link #read}), which a truncated file answers with a short count. */
    private final FileChannel channel;

    private SafetensorsFile(SafetensorsHeader header, Arena arena, MemorySegment mapping, FileChannel channel) {
        this.header = header;
        this.arena = arena;
        this.mapping = mapping;
        this.data = mapping.asSlice(header.dataOffset(), header.dataSize());
        this.channel = channel;
        BY_ADDRESS.put(mapping.address(), this);
    }

    /** The open file whose mapping holds all of {@code segment}, if any. */
    public static Optional<SafetensorsFile> holding(MemorySegment segment) {
        Map.Entry<Long, SafetensorsFile> e = BY_ADDRESS.floorEntry(segment.address());
        if (e == null || !segment.isNative()) {
            return Optional.empty();
        }
        MemorySegment m = e.getValue().mapping;
        boolean inside = segment.address() + segment.byteSize() <= m.address() + m.byteSize();
        return inside && e.getValue().arena.scope().isAlive() ? Optional.of(e.getValue()) : Optional.empty();
    }

    /** Where the file's mapping starts (a page boundary). */
    long mappingAddress() {
        return mapping.address();
    }

    /**
     * Reads {@code into.byteSize()} bytes of the file, from where {@code address} lies in its mapping, with positional
     * reads rather than through the mapping: a page of a mapping whose file was truncated faults, and a fault in
     * vectorized code stops the JVM, where a read of a truncated file just comes back short.
     *
     * @throws UncheckedIOException naming the file when it ends before the bytes asked for
     */
    public void read(long address, MemorySegment into) {
        long position = address - mapping.address();
        try {
            for (long done = 0; done < into.byteSize(); ) {
                // A byte buffer holds at most 2 GiB.
                ByteBuffer buffer = into.asSlice(done, Math.min(into.byteSize() - done, 1L << 30)).asByteBuffer();
                while (buffer.hasRemaining()) {
                    if (channel.read(buffer, position + done + buffer.position()) < 0) {
                        String message = header.path() + ": ends at " + channel.size() + " bytes, before the "
                                + into.byteSize() + " bytes at " + position + " that were to be read: it was truncated "
                                + "while it was read (its header says " + header.fileSize() + ")";
                        throw new UncheckedIOException(message, new EOFException(message));
                    }
                }
                done += buffer.capacity();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(header.path() + ": cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * Opens, validates and maps {@code file}.
     *
     * @throws SafetensorsFormatException if the file breaks the format
     * @throws UncheckedIOException if it cannot be read or mapped
     */
    public static SafetensorsFile open(Path file) {
        return open(SafetensorsHeader.read(file));
    }

    /** Maps the file of a header read earlier, checking that the file has not changed size since. */
    static SafetensorsFile open(SafetensorsHeader header) {
        Path file = header.path();
        InputFile.requireRegular(file, "safetensors file");
        FileChannel channel = null;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
            if (channel.size() != header.fileSize()) {
                String message = file + ": changed since its header was read: it had " + header.fileSize()
                        + " bytes, now " + channel.size();
                throw new UncheckedIOException(message, new IOException(message));
            }
            return map(header, channel);
        } catch (IOException | RuntimeException e) {
            closeQuietly(channel);
            if (e instanceof IOException io) {
                throw new UncheckedIOException(file + ": cannot open safetensors file: " + io.getMessage(), io);
            }
            throw (RuntimeException) e;
        }
    }

    private static SafetensorsFile map(SafetensorsHeader header, FileChannel channel) throws IOException {
        Arena arena = Arena.ofShared();
        try {
            // The mapping outlives the channel: it belongs to the arena.
            MemorySegment mapping = channel.map(FileChannel.MapMode.READ_ONLY, 0, header.fileSize(), arena);
            LOG.debug("mapped {} ({} tensors, {} bytes)", header.path(), header.keys().size(), header.fileSize());
            return new SafetensorsFile(header, arena, mapping, channel);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** The file's path. */
    public Path path() {
        return header.path();
    }

    /** The validated header. */
    public SafetensorsHeader header() {
        return header;
    }

    /** The {@code __metadata__} map, empty if the header has none. */
    public Map<String, String> metadata() {
        return header.metadata();
    }

    /** Tensor names in the header's order. */
    public List<String> keys() {
        return header.keys();
    }

    public boolean contains(String key) {
        return header.contains(key);
    }

    /**
     * The header entry of {@code key}.
     *
     * @throws SafetensorsFormatException naming the file and key if there is no such tensor
     */
    public TensorEntry entry(String key) {
        return header.entry(key);
    }

    /**
     * Tensor {@code key} as a contiguous view of the mapping (no copy), valid until this file is closed.
     *
     * @throws SafetensorsFormatException naming the file and key if there is no such tensor
     */
    public Tensor tensor(String key) {
        TensorEntry e = header.entry(key);
        return Tensor.wrap(data.asSlice(e.begin(), e.byteSize()), e.dtype(), e.shape());
    }

    /** The raw bytes of tensor {@code key} in the mapping. */
    public MemorySegment bytes(String key) {
        TensorEntry e = header.entry(key);
        return data.asSlice(e.begin(), e.byteSize());
    }

    /** Unmaps the file; tensors handed out before must not be used afterwards. Closing twice does nothing. */
    @Override
    public synchronized void close() {
        if (arena.scope().isAlive()) {
            BY_ADDRESS.remove(mapping.address(), this);
            arena.close();
            closeQuietly(channel);
        }
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            if (channel != null) {
                channel.close();
            }
        } catch (IOException e) {
            // read-only: nothing is lost
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile(" + header.path() + ", " + header.keys().size() + " tensors)";
    }
}
