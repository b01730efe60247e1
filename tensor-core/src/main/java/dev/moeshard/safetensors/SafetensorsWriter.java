package dev.moeshard.safetensors;

import dev.moeshard.tensor.Shapes;
import dev.moeshard.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes one safetensors file straight into a mapping of the output, with no staging copy.
 *
 * <p>The header is known before any data: a {@link Plan} fixes every tensor's place from its dtype and shape. The file
 * is created at full size under a temporary name next to the target, mapped read-write, and each tensor is written into
 * its slice of the mapping by the copy engine, which lays a strided source (a transposed view, say) out contiguously
 * on the way. {@link #commit()} checks that every tensor was written, forces the mapping to disk and renames the file
 * into place; closing without a commit deletes the temporary file, so nothing half-written is ever left.
 *
 * <pre>{@code
 * var plan = SafetensorsWriter.plan(specs, Map.of("format", "pt"));
 * try (var out = SafetensorsWriter.open(path, plan)) {
 *     out.write("a", sourceTensor);            // copied in by the copy engine
 *     out.tensor("b").copyFrom(otherSource);   // or filled by the caller, write-through
 *     out.commit();
 * }
 * }</pre>
 *
 * Tensors may be written from several threads at once (the mapping is in a shared arena); {@link #commit()} and
 * {@link #close()} must come after all of them.
 *
 * <p>Bytes built elsewhere can also go in with {@link #writeViaFile}, a positional write to the file. A page that
 * the mapping touches first must be zeroed by the kernel before the copy overwrites it; a page that a write fills
 * whole is not, which for a conversion that produces its output in a small, cached buffer is the cheaper way in.
 * Where the file system allows it, the whole blocks of such a write go straight to disk ({@link DirectWrites}); the
 * rest lands in the page cache, and {@link #commit()} forces all of it.
 */
public final class SafetensorsWriter implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SafetensorsWriter.class);

    /**
     * The complete layout of a file to be written: the tensors in order with their offsets, the metadata and the
     * encoded header. Tensors are laid out in the order given, with no padding between them.
     */
    public static final class Plan {
        private final List<TensorEntry> entries;
        private final Map<String, Integer> index;
        private final Map<String, String> metadata;
        private final byte[] header;
        private final long dataSize;

        private Plan(List<TensorEntry> entries, Map<String, Integer> index, Map<String, String> metadata, byte[] header,
                long dataSize) {
            this.entries = List.copyOf(entries);
            this.index = index;
            this.metadata = Collections.unmodifiableMap(metadata);
            this.header = header;
            this.dataSize = dataSize;
        }

        /** The tensors with their offsets in the data section, in file order. */
        public List<TensorEntry> entries() {
            return entries;
        }

        /** The tensor names in file order. */
        public List<String> keys() {
            return entries.stream().map(TensorEntry::name).toList();
        }

        public boolean contains(String name) {
            return index.containsKey(name);
        }

        /** The entry of {@code name}, or an exception if the plan has no such tensor. */
        public TensorEntry entry(String name) {
            Integer i = index.get(name);
            if (i == null) {
                throw new IllegalArgumentException("tensor '" + name + "' is not in the plan (" + entries.size()
                        + " tensors)");
            }
            return entries.get(i);
        }

        public Map<String, String> metadata() {
            return metadata;
        }

        /** N: the header's length in bytes, a multiple of 8. */
        public long headerLength() {
            return header.length;
        }

        /** The sum of the tensor sizes. */
        public long dataSize() {
            return dataSize;
        }

        /** The size of the whole file: {@code 8 + N + dataSize()}. */
        public long fileSize() {
            return 8 + header.length + dataSize;
        }

        int indexOf(String name) {
            Integer i = index.get(name);
            return i == null ? -1 : i;
        }

        byte[] header() {
            return header;
        }
    }

    private final Path target;
    private final Path temp;
    private final Plan plan;
    private final Arena arena;
    private final FileChannel channel;
    private final MemorySegment data;
    private final MemorySegment mapping;
    private final boolean[] written;
    private final ReentrantLock fileWrites = new ReentrantLock();
    private final WrittenChecksums checksums;
    /** The whole blocks of {@link #writeViaFile}'s writes, straight to disk; null without direct I/O. */
    private final DirectWrites direct;
    /** Set once a direct write has failed: the rest go through the page cache. */
    private volatile boolean directFailed;
    private List<Integer> blockChecksums;
    private boolean committed;
    private boolean closed;

    private SafetensorsWriter(Path target, Path temp, Plan plan, Arena arena, FileChannel channel, MemorySegment mapping,
                              WrittenChecksums checksums, DirectWrites direct) {
        this.direct = direct;
        this.target = target;
        this.checksums = checksums;
        this.temp = temp;
        this.plan = plan;
        this.arena = arena;
        this.channel = channel;
        this.mapping = mapping;
        this.data = mapping.asSlice(8 + plan.headerLength(), plan.dataSize());
        this.written = new boolean[plan.entries.size()];
    }

    // ------------------------------------------------------------------------------------------------ planning

    /**
     * Lays out {@code specs} in order, with {@code metadata} (may be empty) as the header's {@code __metadata__}.
     *
     * @throws IllegalArgumentException for a name used twice, the reserved name {@code __metadata__}, or sizes that
     *     overflow a {@code long}
     */
    public static Plan plan(List<TensorSpec> specs, Map<String, String> metadata) {
        return plan(specs, metadata, List.of());
    }

    /**
     * As {@link #plan(List, Map)}, with the parts of each of {@code splits} (one after another in {@code specs}, as
     * {@link ShardLayout} keeps them) written and checked as tensors of their own but listed in the header as the
     * tensor they are parts of.
     */
    public static Plan plan(List<TensorSpec> specs, Map<String, String> metadata, List<TensorSplit> splits) {
        Map<String, String> meta = new LinkedHashMap<>();
        metadata.forEach((k, v) -> meta.put(Objects.requireNonNull(k, "metadata key"),
                Objects.requireNonNull(v, () -> "metadata value of '" + k + "'")));
        List<TensorEntry> entries = new ArrayList<>(specs.size());
        Map<String, Integer> index = new HashMap<>();
        long offset = 0;
        for (TensorSpec spec : specs) {
            if (spec.name().equals(SafetensorsHeader.METADATA_KEY)) {
                throw new IllegalArgumentException("'" + SafetensorsHeader.METADATA_KEY
                        + "' is reserved for the metadata and cannot name a tensor");
            }
            if (index.putIfAbsent(spec.name(), entries.size()) != null) {
                throw new IllegalArgumentException("tensor '" + spec.name() + "' appears twice in the plan");
            }
            long end;
            try {
                end = Math.addExact(offset, spec.byteSize());
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("tensors up to '" + spec.name() + "' have more bytes than a long can count", e);
            }
            entries.add(new TensorEntry(spec.name(), spec.dtype(), spec.shape(), offset, end));
            offset = end;
        }
        byte[] header = SafetensorsHeader.encode(joined(entries, index, splits), meta);
        if (header.length > SafetensorsHeader.MAX_HEADER_LENGTH) {
            throw new IllegalArgumentException("the header of " + entries.size() + " tensors would be " + header.length
                    + " bytes, over the " + SafetensorsHeader.MAX_HEADER_LENGTH + " that readers accept; split the file");
        }
        return new Plan(entries, index, meta, header, offset);
    }

    /** {@code entries} with each split's parts, which must follow each other, as one entry of its whole. */
    private static List<TensorEntry> joined(List<TensorEntry> entries, Map<String, Integer> index,
                                            List<TensorSplit> splits) {
        if (splits.isEmpty()) {
            return entries;
        }
        List<TensorEntry> out = new ArrayList<>(entries);
        for (TensorSplit split : splits) {
            boolean namesAPart = split.parts().stream().anyMatch(p -> p.name().equals(split.whole().name()));
            if (index.containsKey(split.whole().name()) && !namesAPart) {
                throw new IllegalArgumentException("tensor '" + split.whole().name() + "' is planned both as a tensor "
                        + "and as the whole of " + split.parts().stream().map(TensorSpec::name).toList());
            }
            Integer first = index.get(split.parts().getFirst().name());
            if (first == null || !split.partEntries(entries.get(first).begin())
                    .equals(entries.subList(first, first + split.parts().size()))) {
                throw new IllegalArgumentException("tensor '" + split.whole().name() + "': its parts "
                        + split.parts().stream().map(TensorSpec::name).toList() + " are not laid out one after another");
            }
            TensorEntry start = entries.get(first);
            out.set(first, new TensorEntry(split.whole().name(), split.whole().dtype(), split.whole().shape(),
                    start.begin(), start.begin() + split.byteSize()));
            for (int k = 1; k < split.parts().size(); k++) {
                out.set(first + k, null);
            }
        }
        out.removeIf(Objects::isNull);
        return out;
    }

    // ------------------------------------------------------------------------------------------------ writing

    /**
     * Creates the output under a temporary name next to {@code path}, at its full size, maps it and writes the header.
     * Nothing appears at {@code path} until {@link #commit()}.
     *
     * @throws UncheckedIOException if the file cannot be created or mapped
     */
    public static SafetensorsWriter open(Path path, Plan plan) {
        Path temp = AtomicReplace.tempSibling(path);
        Arena arena = Arena.ofShared();
        FileChannel channel = null;
        try {
            channel = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            // One byte at the end sizes the file; reserving its blocks spares a fault per page while it is written.
            channel.write(ByteBuffer.wrap(new byte[1]), plan.fileSize() - 1);
            FilePreallocation.reserve(temp, plan.fileSize());
            // The header goes in with a positional write, not through the mapping: on a full disk a write fails with
            // an IOException, where a store to a mapped page the file system cannot back faults.
            ByteBuffer head = ByteBuffer.allocateDirect(8 + plan.header().length).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(plan.headerLength()).put(plan.header()).flip();
            WrittenChecksums checksums = new WrittenChecksums(temp);
            checksums.wrote(0, MemorySegment.ofBuffer(head));
            while (head.hasRemaining()) {
                channel.write(head, head.position());
            }
            MemorySegment mapping = channel.map(FileChannel.MapMode.READ_WRITE, 0, plan.fileSize(), arena);
            LOG.debug("writing {} ({} tensors, {} bytes) through {}", path, plan.entries.size(), plan.fileSize(), temp);
            return new SafetensorsWriter(path, temp, plan, arena, channel, mapping, checksums, DirectWrites.open(temp));
        } catch (IOException | RuntimeException e) {
            arena.close();
            closeQuietly(channel, e);
            try {
                Files.deleteIfExists(temp);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            if (e instanceof IOException io) {
                throw new UncheckedIOException(path + ": cannot create safetensors file: " + io.getMessage(), io);
            }
            throw (RuntimeException) e;
        }
    }

    /** The path the file will have once committed. */
    public Path path() {
        return target;
    }

    public Plan plan() {
        return plan;
    }

    /**
     * The destination of tensor {@code name}: a contiguous view of its bytes in the mapped output, which the caller
     * fills (for instance with several {@code copyFrom} into slices of it). Handing it out counts as writing it.
     *
     * @throws IllegalArgumentException if the plan has no such tensor
     * @throws IllegalStateException after commit or close
     */
    public Tensor tensor(String name) {
        int i = indexOf(name);
        Tensor view = view(plan.entries.get(i));
        markWritten(i);
        return view;
    }

    /**
     * Copies {@code source} (any strides) into tensor {@code name} of the file.
     *
     * @throws IllegalArgumentException if the plan has no such tensor, or the source's dtype or shape differ from it
     * @throws IllegalStateException if the tensor was already written, or after commit or close
     */
    public void write(String name, Tensor source) {
        int i = indexOf(name);
        TensorEntry e = plan.entries.get(i);
        if (source.dtype() != e.dtype() || !Arrays.equals(source.sizes(), e.shape())) {
            throw new IllegalArgumentException(target + ": tensor '" + name + "' is planned as " + e.dtype()
                    + Shapes.format(e.shape()) + ", the source is " + source.dtype() + Shapes.format(source.sizes()));
        }
        // Claimed before the copy so that two threads cannot both write it; released if the copy fails.
        synchronized (this) {
            checkOpen();
            if (written[i]) {
                throw new IllegalStateException(target + ": tensor '" + name + "' was already written");
            }
            written[i] = true;
        }
        boolean done = false;
        try {
            view(e).copyFrom(source);
            done = true;
        } finally {
            if (!done) {
                synchronized (this) {
                    written[i] = false;
                }
            }
        }
    }

    /** Whether {@code region} lies inside this file's tensor data. */
    public boolean holds(MemorySegment region) {
        return region.address() >= data.address()
                && region.address() + region.byteSize() <= data.address() + data.byteSize();
    }

    /** The tensor data from address {@code from} to address {@code to}, both inside it. */
    MemorySegment dataBetween(long from, long to) {
        return data.asSlice(from - data.address(), to - from);
    }

    /**
     * Writes {@code bytes} into the file where {@code region}, a slice of the mapped tensor data (of a tensor handed
     * out by {@link #tensor}), lies: the same bytes a copy into {@code region} would leave, put there with a
     * positional write instead of through the mapping. May be called from several threads for disjoint regions; the
     * writes themselves go one at a time. The bytes are summed for {@link #blockChecksums()} as they go in, so a region
     * written here is not to be changed through the mapping afterwards (a region written here twice is fine).
     *
     * @throws IllegalArgumentException if {@code region} is not inside this file's tensor data, or the sizes differ
     * @throws UncheckedIOException if the write fails
     */
    public void writeViaFile(MemorySegment region, MemorySegment bytes) {
        if (!holds(region)) {
            throw new IllegalArgumentException(target + ": a write to a region of " + region.byteSize()
                    + " bytes at address " + region.address() + ", which is not inside the tensor data");
        }
        if (region.byteSize() != bytes.byteSize()) {
            throw new IllegalArgumentException(target + ": a write of " + bytes.byteSize() + " bytes to a region of "
                    + region.byteSize());
        }
        synchronized (this) {
            checkOpen();
        }
        long position = region.address() - mapping.address();
        checksums.wrote(position, bytes); // while the bytes are still in this thread's cache
        long[] straight = direct == null || directFailed ? new long[] {0, 0} : direct.directPart(position, bytes);
        try {
            if (straight[1] > straight[0]) {
                writeBuffered(position, bytes.asSlice(0, straight[0]));
                writeDirect(position + straight[0], bytes.asSlice(straight[0], straight[1] - straight[0]));
                writeBuffered(position + straight[1], bytes.asSlice(straight[1]));
            } else {
                writeBuffered(position, bytes);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(target + ": cannot write " + bytes.byteSize() + " bytes at " + position + ": "
                    + e.getMessage(), e);
        }
    }

    /**
     * {@code bytes} straight to disk at {@code position}, or, where the device refuses a direct write (a block larger
     * than the file system said), through the page cache, as every later write of this file then is.
     */
    private void writeDirect(long position, MemorySegment bytes) throws IOException {
        try {
            direct.write(position, bytes);
        } catch (IOException e) {
            if (!directFailed) {
                directFailed = true;
                LOG.debug("{}: a direct write of {} bytes at {} failed ({}); writing through the page cache", temp,
                        bytes.byteSize(), position, e.getMessage());
            }
            writeBuffered(position, bytes);
        }
    }

    private void writeBuffered(long position, MemorySegment bytes) throws IOException {
        ByteBuffer buffer = bytes.asByteBuffer();
        // One write at a time: the kernel holds the file's lock for a buffered write anyway, and a thread waiting
        // for it there spins (a fifth of the CPU time with two writers); waiting here, it sleeps.
        fileWrites.lock();
        try {
            while (buffer.hasRemaining()) {
                position += channel.write(buffer, position);
            }
        } finally {
            fileWrites.unlock();
        }
    }

    /**
     * Writes {@code region}, a slice of this file's tensor data, back to disk now and waits for it, so that
     * {@link #commit()} has less left to force. Must not overlap {@link #commit()} or {@link #close()}.
     *
     * @throws IllegalArgumentException if {@code region} is not inside this file's tensor data
     * @throws UncheckedIOException if the write-back fails
     */
    public void force(MemorySegment region) {
        if (!holds(region)) {
            throw new IllegalArgumentException(target + ": cannot force a region of " + region.byteSize()
                    + " bytes at address " + region.address() + ", which is not inside the tensor data");
        }
        synchronized (this) {
            checkOpen();
        }
        // Through the mapping, whichever way the bytes came in: msync of a shared file mapping writes back every
        // dirty page of the file in the range.
        mapping.asSlice(region.address() - mapping.address(), region.byteSize()).force();
    }

    /**
     * Checks that every tensor was written, forces the data to disk and renames the file into place, replacing any
     * file there.
     *
     * @throws IllegalStateException naming the tensors never written (the file is not created)
     * @throws UncheckedIOException if the data cannot be forced or the file renamed
     */
    public synchronized void commit() {
        checkComplete();
        try {
            mapping.force();
            channel.force(false);
            blockChecksums = checksums.finish(channel, plan.fileSize());
            arena.close();
            if (direct != null) {
                direct.close();
            }
            channel.close();
            AtomicReplace.moveIntoPlace(temp, target);
        } catch (IOException e) {
            throw new UncheckedIOException(target + ": cannot commit safetensors file: " + e.getMessage(), e);
        }
        committed = true;
        closed = true;
        LOG.debug("committed {}", target);
    }

    /**
     * The committed file's {@link BlockChecksums}, taken as it was written.
     *
     * @throws IllegalStateException before {@link #commit()}
     */
    public synchronized List<Integer> blockChecksums() {
        if (!committed) {
            throw new IllegalStateException(target + ": not committed, its checksums are not final");
        }
        return blockChecksums;
    }

    /**
     * Throws unless every tensor has been written: what {@link #commit()} checks first.
     *
     * @throws IllegalStateException naming the tensors never written, or after commit or close
     */
    public synchronized void checkComplete() {
        checkOpen();
        List<String> missing = new ArrayList<>();
        for (int i = 0; i < written.length; i++) {
            if (!written[i]) {
                missing.add(plan.entries.get(i).name());
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalStateException(target + ": " + missing.size() + " of " + written.length
                    + " tensors were never written: " + abbreviate(missing));
        }
    }

    /** Without a commit, unmaps and deletes the temporary file; after one, does nothing. */
    @Override
    public synchronized void close() {
        if (committed) {
            return;
        }
        closed = true;
        if (arena.scope().isAlive()) {
            arena.close();
        }
        try {
            if (direct != null) {
                direct.close();
            }
            channel.close();
            Files.deleteIfExists(temp);
        } catch (IOException e) {
            throw new UncheckedIOException(temp + ": cannot delete unfinished output: " + e.getMessage(), e);
        }
    }

    /**
     * Writes {@code tensors} in their iteration order (pass a {@code LinkedHashMap} or another ordered map) to
     * {@code path}, all or nothing.
     */
    public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) {
        List<TensorSpec> specs = new ArrayList<>(tensors.size());
        tensors.forEach((name, t) -> specs.add(TensorSpec.of(name, t)));
        try (SafetensorsWriter out = open(path, plan(specs, metadata))) {
            tensors.forEach(out::write);
            out.commit();
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private Tensor view(TensorEntry e) {
        return Tensor.wrap(data.asSlice(e.begin(), e.byteSize()), e.dtype(), e.shape());
    }

    private synchronized int indexOf(String name) {
        checkOpen();
        int i = plan.indexOf(name);
        if (i < 0) {
            throw new IllegalArgumentException(target + ": tensor '" + name + "' is not in the plan of this file");
        }
        return i;
    }

    private synchronized void markWritten(int i) {
        checkOpen();
        written[i] = true;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(target + ": writer is already " + (committed ? "committed" : "closed"));
        }
    }

    private static void closeQuietly(FileChannel channel, Exception failure) {
        if (channel == null) {
            return;
        }
        try {
            channel.close();
        } catch (IOException suppressed) {
            failure.addSuppressed(suppressed);
        }
    }

    private static String abbreviate(List<String> names) {
        int shown = Math.min(names.size(), 10);
        String list = String.join(", ", names.subList(0, shown));
        return names.size() > shown ? list + ", ... (" + (names.size() - shown) + " more)" : list;
    }
}
