package dev.moeshard.convert;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Whether the file system the output goes to has room for it, checked before anything is written: a store to a
 * mapped page that a full file system cannot back faults instead of failing cleanly, so a job that cannot fit is
 * refused up front. Only a first defence: another writer can still fill the disk meanwhile, and the positional
 * writes of the data then fail with an I/O error.
 */
final class FreeSpace {
    /** Room left over for headers, indexes and the small files beside the weights. */
    private static final long SLACK = 64L << 20;

    private FreeSpace() {}

    /** Refuses, with an I/O error, an output of {@code bytes} that the file system holding {@code output} cannot take. */
    static void require(Path output, long bytes) {
        Path existing = output.toAbsolutePath().normalize();
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            return;
        }
        try {
            long usable = Files.getFileStore(existing).getUsableSpace();
            if (usable < bytes + SLACK) {
                String message = output + ": the output needs about " + (bytes + SLACK)
                        + " bytes, and its file system has " + usable + " free; nothing was written";
                throw new UncheckedIOException(message, new IOException(message));
            }
        } catch (IOException e) {
            // A file system that cannot say: the writes themselves will tell.
        }
    }
}
