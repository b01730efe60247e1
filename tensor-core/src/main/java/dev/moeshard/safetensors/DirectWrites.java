package dev.moeshard.safetensors;

import com.sun.nio.file.ExtendedOpenOption;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The whole blocks of a positional write sent straight to the disk ({@code O_DIRECT}), past the page cache. A
 * buffered write first copies its bytes into pages the kernel allocates for it, which the final fsync then writes
 * back: on the 2-core VM that copy took more system time than the rest of a conversion together, and two threads
 * writing one file spun on its lock (benchmarks/RESULTS.md). A direct write moves the bytes from the caller's buffer
 * by DMA.
 *
 * <p>It needs the bytes to start at a block boundary of the file and of memory alike, so a write is cut in three: the
 * partial blocks at its ends go through the page cache, the blocks between (when they are many enough to be worth a
 * call of their own) straight to disk. A block is never written both ways by one writer: the ends of a region are the
 * blocks it may share with its neighbours, which are written through the page cache by every writer; the kernel
 * writes back and drops any page cache page of a range it writes directly, so that what was written before through
 * the mapping or the page cache stays coherent. File systems without direct I/O (tmpfs, some network file systems)
 * get none, and every write goes through the page cache as before.
 *
 * <p>Where the job waits on the disk rather than on the CPU, the page cache is the better way: on the 16-core GPU
 * host, whose disk bounds the job, direct writes were 3–13% slower warm and 10–13% slower cold than buffered ones,
 * against 2.5 × faster on the 2-core VM (benchmarks/RESULTS.md). So by default ({@code -Dmoeshard.directWrites=auto})
 * only a process with at most {@value #MAX_AUTO_PROCESSORS} processors writes directly; {@code true} or
 * {@code false} decides for every machine.
 */
final class DirectWrites implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DirectWrites.class);
    static final String PROPERTY = "moeshard.directWrites";
    /** Below this a direct write's fixed cost (a request to the device, waited for) outweighs the copy it saves. */
    private static final long MIN_BYTES = 256 * 1024;
    /** The alignment the callers' buffers keep with the file: a page (see StagedWrites in moe-convert). */
    private static final long PAGE = 4096;
    /** The most processors with which {@code auto} writes directly: where the CPU, not the disk, bounds a job. */
    static final int MAX_AUTO_PROCESSORS = 4;

    private final FileChannel channel;

    private DirectWrites(FileChannel channel) {
        this.channel = channel;
    }

    /** Direct writes to {@code file}, or null where its file system has none or they are not chosen. */
    static DirectWrites open(Path file) {
        if (!chosen(System.getProperty(PROPERTY, "auto"), Runtime.getRuntime().availableProcessors())) {
            return null;
        }
        try {
            // Pieces are cut at pages, which are whole blocks of any file system whose block divides a page.
            long block = Files.getFileStore(file).getBlockSize();
            if (block <= 0 || block > PAGE || PAGE % block != 0) {
                return null;
            }
            return new DirectWrites(FileChannel.open(file, StandardOpenOption.WRITE, ExtendedOpenOption.DIRECT));
        } catch (IOException | UnsupportedOperationException e) {
            LOG.debug("{}: no direct writes ({}); writes go through the page cache", file, e.getMessage());
            return null;
        }
    }

    /**
     * Whether {@code setting} ({@code true}, {@code false} or {@code auto}) asks for direct writes on a machine of
     * {@code processors} processors.
     *
     * @throws IllegalArgumentException for any other setting, naming the property
     */
    static boolean chosen(String setting, int processors) {
        return switch (setting) {
            case "true" -> true;
            case "false" -> false;
            case "auto" -> processors <= MAX_AUTO_PROCESSORS;
            default -> throw new IllegalArgumentException("system property " + PROPERTY + " must be true, false or "
                    + "auto, got '" + setting + "'");
        };
    }

    /**
     * The part of a write of {@code bytes} at file offset {@code position} that goes straight to disk, as offsets
     * [start, end) within {@code bytes}: whole pages of the file that start at a page boundary in memory too; empty
     * (start == end) when none does or they are too few.
     */
    long[] directPart(long position, MemorySegment bytes) {
        long start = Math.floorMod(-position, PAGE);
        long end = start + Math.max(0, bytes.byteSize() - start) / PAGE * PAGE;
        if (end - start < MIN_BYTES || (bytes.address() + start) % PAGE != 0) {
            return new long[] {0, 0};
        }
        return new long[] {start, end};
    }

    /** Writes {@code bytes}, whole aligned blocks from {@link #directPart}, at file offset {@code position}. */
    void write(long position, MemorySegment bytes) throws IOException {
        ByteBuffer buffer = bytes.asByteBuffer();
        while (buffer.hasRemaining()) {
            position += channel.write(buffer, position);
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close a file opened for direct writes: " + e.getMessage(), e);
        }
    }
}
