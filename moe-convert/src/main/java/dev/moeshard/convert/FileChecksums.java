package dev.moeshard.convert;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.IntStream;
import java.util.zip.CRC32C;

/**
 * CRC32C of a file's bytes, one per {@value #BLOCK_BYTES}-byte block, computed on several threads: a done-record's
 * proof that a unit's file is the one its writer finished, cheap to take again before the file is trusted.
 */
final class FileChecksums {
    static final int BLOCK_BYTES = 64 << 20;
    private static final int READ_BYTES = 4 << 20;

    private FileChecksums() {}

    /** Each block's CRC32C as eight hex digits, in order. */
    static List<String> of(Path file) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            int blocks = (int) Math.max(1, (size + BLOCK_BYTES - 1) / BLOCK_BYTES);
            return IntStream.range(0, blocks).parallel()
                    .mapToObj(b -> HexFormat.of().toHexDigits((int) crc(channel, file, (long) b * BLOCK_BYTES,
                            Math.min(BLOCK_BYTES, size - (long) b * BLOCK_BYTES))))
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read it to check its bytes: " + e.getMessage(), e);
        }
    }

    private static long crc(FileChannel channel, Path file, long at, long length) {
        CRC32C crc = new CRC32C();
        ByteBuffer buffer = ByteBuffer.allocateDirect((int) Math.min(READ_BYTES, Math.max(1, length)));
        try {
            for (long done = 0; done < length; ) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), length - done));
                int n = channel.read(buffer, at + done);
                if (n < 0) {
                    throw new IOException("ended " + (length - done) + " bytes early");
                }
                buffer.flip();
                crc.update(buffer);
                done += n;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read it to check its bytes: " + e.getMessage(), e);
        }
        return crc.getValue();
    }
}
