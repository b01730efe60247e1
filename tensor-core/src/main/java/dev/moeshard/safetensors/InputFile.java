package dev.moeshard.safetensors;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * What an input path must be before it is opened: a regular file, reached through any symbolic links. Checked from
 * its attributes alone, so that a FIFO or a device is refused instead of blocking {@code open} forever, and a
 * dangling link or a link loop is named as what it is instead of being skipped.
 */
public final class InputFile {
    /** The most a JSON file beside the weights (config.json, an index) may hold; real ones are kilobytes. */
    public static final long MAX_JSON_BYTES = 64L << 20;

    private InputFile() {}

    /**
     * The size of {@code path} after checking that it is a regular file; {@code role} says what it is for
     * ("safetensors file", "config.json") in the message.
     *
     * @throws SafetensorsFormatException naming the path when it is missing, a dangling link, a link loop, a
     *     directory, a FIFO, a socket or a device
     */
    public static long requireRegular(Path path, String role) {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new SafetensorsFormatException(path, Files.isSymbolicLink(path)
                    ? role + " is a symbolic link to a file that does not exist"
                    : role + " does not exist");
        } catch (FileSystemException e) {
            String reason = e.getReason() == null ? e.getMessage() : e.getReason();
            throw new SafetensorsFormatException(path, reason.contains("symbolic links")
                    ? role + " is a loop of symbolic links" : role + " cannot be read: " + reason);
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot read " + role + ": " + e.getMessage(), e);
        }
        if (attributes.isRegularFile()) {
            return attributes.size();
        }
        throw new SafetensorsFormatException(path, role + " must be a regular file, but it is "
                + (attributes.isDirectory() ? "a directory" : "a FIFO, socket or device"));
    }

    /** Whether {@code path} exists as anything at all, a dangling link included. */
    public static boolean exists(Path path) {
        return Files.exists(path, LinkOption.NOFOLLOW_LINKS);
    }

    /**
     * The bytes of JSON file {@code path}, after checking that it is a regular file of at most
     * {@link #MAX_JSON_BYTES}: a huge or sparse file is refused before anything is allocated for it.
     */
    public static byte[] readJson(Path path, String role) {
        long size = requireRegular(path, role);
        if (size > MAX_JSON_BYTES) {
            throw new SafetensorsFormatException(path, role + " is " + size + " bytes, over the limit of "
                    + MAX_JSON_BYTES + " for a JSON file beside the weights");
        }
        try {
            byte[] bytes = Files.readAllBytes(path);
            if (bytes.length > MAX_JSON_BYTES) { // grew while it was read
                throw new SafetensorsFormatException(path, role + " grew past " + MAX_JSON_BYTES + " bytes as it was read");
            }
            return bytes;
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot read " + role + ": " + e.getMessage(), e);
        }
    }
}
