package dev.moeshard.safetensors;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Files appear whole or not at all: they are written under a hidden temporary name next to their target and renamed
 * into place at the end. A reader never sees half a file, and a crash leaves only a {@code .name.tmp-*} file behind.
 *
 * <p>The temporary file lives in the target's directory because a rename is atomic only within one file system.
 * It is created with {@code CREATE_NEW} under a random name rather than with {@code Files.createTempFile}, which
 * would give a checkpoint owner-only permissions instead of the user's umask.
 */
public final class AtomicReplace {
    private AtomicReplace() {}

    /** The longest file name most file systems take, in bytes. */
    private static final int MAX_NAME_BYTES = 255;

    /** A fresh name {@code .<target name>.tmp-<random>} in the target's directory; nothing is created. */
    public static Path tempSibling(Path target) {
        Path absolute = target.toAbsolutePath();
        String random = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
        return absolute.resolveSibling(tempPrefix(absolute) + random);
    }

    /**
     * What every temporary sibling of {@code target} starts with: {@code .<name>.tmp-}, the name cut short (at a
     * character boundary) where the whole would pass the 255 bytes a file name may have.
     */
    public static String tempPrefix(Path target) {
        String name = target.toAbsolutePath().getFileName().toString();
        int room = MAX_NAME_BYTES - ".".length() - ".tmp-".length() - 16;
        while (name.getBytes(StandardCharsets.UTF_8).length > room) {
            name = name.substring(0, name.offsetByCodePoints(name.length(), -1));
        }
        return "." + name + ".tmp-";
    }

    /** Renames {@code temp} to {@code target} in one step, replacing a file already there. */
    public static void moveIntoPlace(Path temp, Path target) throws IOException {
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException(target + ": the file system cannot rename " + temp.getFileName()
                    + " into place atomically", e);
        }
        syncDirectory(target.toAbsolutePath().getParent());
    }

    /**
     * Writes {@code bytes} to {@code target} through a temporary file, forced to disk before the rename and the
     * directory after it, so that the target is never partial, also after a power loss.
     */
    public static void write(Path target, byte[] bytes) throws IOException {
        Path temp = tempSibling(target);
        try {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                ByteBuffer buffer = ByteBuffer.wrap(bytes);
                while (buffer.hasRemaining()) {
                    channel.write(buffer);
                }
                channel.force(true);
            }
            moveIntoPlace(temp, target);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    /**
     * Copies {@code source} to {@code target} through a temporary file forced to disk before the rename, as
     * {@link #write} writes: streamed, so that a large tokenizer or README costs no memory of its size.
     */
    public static void copy(Path source, Path target) throws IOException {
        Path temp = tempSibling(target);
        try {
            try (FileChannel in = FileChannel.open(source, StandardOpenOption.READ);
                 FileChannel out = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                long size = in.size();
                for (long done = 0; done < size; ) {
                    long n = in.transferTo(done, size - done, out);
                    if (n <= 0) {
                        throw new IOException(source + ": ended at " + done + " of " + size + " bytes while it was copied");
                    }
                    done += n;
                }
                out.force(true);
            }
            moveIntoPlace(temp, target);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    /**
     * Makes the rename itself durable. Opening a directory for reading works on Linux and macOS; elsewhere it fails and
     * the rename is as durable as the platform makes it.
     */
    public static void syncDirectory(Path directory) {
        if (directory == null) {
            return;
        }
        try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Best effort only: the data itself has already been forced.
        }
    }
}
