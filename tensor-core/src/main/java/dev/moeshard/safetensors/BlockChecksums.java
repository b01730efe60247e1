package dev.moeshard.safetensors;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.IntStream;
import java.util.zip.CRC32C;

/**
 * CRC32C of a file's bytes, one per {@value #BLOCK_BYTES}-byte block (the last may be shorter; an empty file has one
 * block, of no bytes): a proof, cheap to take again, that a file is the one its writer finished. A
 * {@link SafetensorsWriter} takes them from the bytes as it writes them; {@link #of} reads a file to take them again.
 */
public final class BlockChecksums {
    /** The bytes each checksum covers. */
    public static final int BLOCK_BYTES = 64 << 20;
    private static final int READ_BYTES = 4 << 20;

    private BlockChecksums() {}

    /**
     * Each block's CRC32C, in order, read from {@code file} on several threads.
     *
     * @throws UncheckedIOException naming the file when it cannot be read
     */
    public static List<Integer> of(Path file) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            return IntStream.range(0, (int) Math.max(1, (size + BLOCK_BYTES - 1) / BLOCK_BYTES)).parallel()
                    .mapToObj(b -> crcOf(channel, file, (long) b * BLOCK_BYTES,
                            Math.min(BLOCK_BYTES, size - (long) b * BLOCK_BYTES)))
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read it to check its bytes: " + e.getMessage(), e);
        }
    }

    /** The CRC32C of {@code length} bytes of {@code channel} (the file {@code file}) from {@code at}. */
    static int crcOf(FileChannel channel, Path file, long at, long length) {
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
        return (int) crc.getValue();
    }
}
