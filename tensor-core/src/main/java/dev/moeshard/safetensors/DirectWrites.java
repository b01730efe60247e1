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
 * Writes of large, block-aligned runs of a file that bypass the page cache ({@code O_DIRECT}): the disk takes the
 * bytes straight from the caller's buffer. A buffered write copies every byte into a page-cache page the kernel must
 * first find and allocate, under the file's lock, and the final fsync then writes them all again from there; on a
 * conversion's output that copy is most of the kernel's time (benchmarks/RESULTS.md), the pages crowd out the
 * input's, and the fsync waits for all of it at the end. A direct write costs neither copy nor page, and the file's
 * data is on the disk when the call returns.
 *
 * <p>Only the part of a write that starts and ends on the file system's block boundaries, from a buffer aligned the
 * same way, goes direct: the caller writes the ragged ends through the page cache ({@link #interiorOf}). Where the file
 * system refuses {@code O_DIRECT} (tmpfs, some network file systems) or reports a block larger than
 * {@link #MAX_ALIGNMENT}, there are no direct writes and everything goes through the page cache as before.
 */
final class DirectWrites implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DirectWrites.class);
    /** Buffers meant for direct writes are aligned to this; a file system with larger blocks is written buffered. */
    static final long MAX_ALIGNMENT = 64 << 10;
    /** Shorter runs go through the page cache: a direct write waits for the disk, worth it only for large ones. */
    private static final long MIN_DIRECT_BYTES = 256 << 10;
    /** Set to {@code true} to write large runs direct (off by default: see benchmarks/RESULTS.md). */
    static final String PROPERTY = "moeshard.directWrites";

    private final Path file;
    private final FileChannel channel;
    private final long alignment;
    private volatile boolean refused;

    private DirectWrites(Path file, FileChannel channel, long alignment) {
        this.file = file;
        this.channel = channel;
        this.alignment = alignment;
    }

    /** Whether files are written with direct writes where they can be ({@value #PROPERTY}). */
    static boolean wanted() {
        return Boolean.getBoolean(PROPERTY);
    }

    /** Direct writes to the existing file {@code file}, or null where its file system does not take them. */
    static DirectWrites open(Path file) {
        FileChannel channel = null;
        try {
            long alignment = Files.getFileStore(file).getBlockSize();
            if (alignment <= 0 || alignment > MAX_ALIGNMENT || Long.bitCount(alignment) != 1) {
                return null;
            }
            channel = FileChannel.open(file, StandardOpenOption.WRITE, ExtendedOpenOption.DIRECT);
            return new DirectWrites(file, channel, alignment);
        } catch (IOException | UnsupportedOperationException e) {
            LOG.debug("{}: writing through the page cache, direct writes are not available: {}", file, e.getMessage());
            if (channel != null) {
                try {
                    channel.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            return null;
        }
    }

    /** The block size direct writes align to. */
    long alignment() {
        return alignment;
    }

    /**
     * The part of {@code bytes}, to be written at file position {@code position}, that can go direct, as
     * {@code {from, to}} offsets into {@code bytes}; {@code from == to} when none can (too short, or the buffer is
     * not aligned the way the file position is).
     */
    long[] interiorOf(long position, MemorySegment bytes) {
        long from = Math.floorMod(-position, alignment);
        long to = (position + bytes.byteSize()) / alignment * alignment - position;
        if (refused || !bytes.isNative() || to - from < MIN_DIRECT_BYTES || (bytes.address() + from) % alignment != 0) {
            return new long[] {0, 0};
        }
        return new long[] {from, to};
    }

    /**
     * Writes {@code bytes} (an interior run, {@link #interiorOf}) at {@code position}; returns false, having written
     * nothing, when the file system refuses the write after all, so that the caller writes it through the page cache.
     */
    boolean write(long position, MemorySegment bytes) {
        ByteBuffer buffer = bytes.asByteBuffer();
        try {
            while (buffer.hasRemaining()) {
                position += channel.write(buffer, position);
            }
            return true;
        } catch (IOException e) {
            if (buffer.position() == 0 && "Invalid argument".equals(e.getMessage())) {
                refused = true; // EINVAL before a byte went: this file system takes no direct writes after all
                LOG.debug("{}: direct writes refused, writing through the page cache: {}", file, e.getMessage());
                return false;
            }
            throw new UncheckedIOException(file + ": cannot write " + bytes.byteSize() + " bytes at " + position + ": "
                    + e.getMessage(), e);
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
