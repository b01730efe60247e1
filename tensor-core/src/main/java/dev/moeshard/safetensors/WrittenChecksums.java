package dev.moeshard.safetensors;

import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.stream.IntStream;
import java.util.zip.CRC32C;

/**
 * A file's {@link BlockChecksums}, taken from its bytes as they are written rather than by reading the file back
 * after: each positional write's bytes are summed while they are still in the cache of the thread that built them,
 * piece by piece per block, and once the file is complete each block's pieces are joined in file order
 * ({@link Crc32cConcatenation}). Bytes that arrived some other way (through a mapping) are read back, and only
 * those; a block whose pieces overlap, because a region was written twice, is read back whole.
 */
final class WrittenChecksums {
    /** A run of written bytes inside one block, and their CRC32C. */
    private record Piece(int block, long start, long length, int crc) {}

    private final Path file;
    private final long blockBytes;
    private final ConcurrentLinkedQueue<Piece> pieces = new ConcurrentLinkedQueue<>();

    /** For the file {@code file}, named in errors, in blocks of {@link BlockChecksums#BLOCK_BYTES}. */
    WrittenChecksums(Path file) {
        this(file, BlockChecksums.BLOCK_BYTES);
    }

    /** In blocks of {@code blockBytes}. */
    WrittenChecksums(Path file, long blockBytes) {
        this.file = file;
        this.blockBytes = blockBytes;
    }

    /** Notes that {@code bytes} are being written at {@code position}; safe from several threads at once. */
    void wrote(long position, MemorySegment bytes) {
        long done = 0;
        while (done < bytes.byteSize()) {
            long at = position + done;
            int block = (int) (at / blockBytes);
            long length = Math.min(bytes.byteSize() - done, (block + 1) * blockBytes - at);
            CRC32C crc = new CRC32C();
            crc.update(bytes.asSlice(done, length).asByteBuffer());
            pieces.add(new Piece(block, at, length, (int) crc.getValue()));
            done += length;
        }
    }

    /**
     * Each block's CRC32C of the complete file of {@code size} bytes, open as {@code channel}: the written pieces
     * joined, the rest read from the file.
     */
    List<Integer> finish(FileChannel channel, long size) {
        int blocks = (int) Math.max(1, (size + blockBytes - 1) / blockBytes);
        List<List<Piece>> byBlock = new ArrayList<>(blocks);
        for (int b = 0; b < blocks; b++) {
            byBlock.add(new ArrayList<>());
        }
        for (Piece p : pieces) {
            byBlock.get(p.block()).add(p);
        }
        return IntStream.range(0, blocks).parallel().mapToObj(b -> {
            long start = b * blockBytes;
            return block(channel, byBlock.get(b), start, Math.min(size, start + blockBytes));
        }).toList();
    }

    private int block(FileChannel channel, List<Piece> written, long start, long end) {
        written.sort(Comparator.comparingLong(Piece::start));
        int crc = 0; // of no bytes
        long at = start;
        for (Piece p : written) {
            if (p.start() < at || p.start() + p.length() > end) {
                return BlockChecksums.crcOf(channel, file, start, end - start); // written twice: trust only the file
            }
            if (p.start() > at) {
                crc = Crc32cConcatenation.of(crc, BlockChecksums.crcOf(channel, file, at, p.start() - at),
                        p.start() - at);
            }
            crc = Crc32cConcatenation.of(crc, p.crc(), p.length());
            at = p.start() + p.length();
        }
        if (at < end) {
            crc = Crc32cConcatenation.of(crc, BlockChecksums.crcOf(channel, file, at, end - at), end - at);
        }
        return crc;
    }
}
