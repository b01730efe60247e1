package dev.moeshard.convert;

import dev.moeshard.safetensors.AtomicReplace;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * An output directory that appears whole or not at all: everything is written into a hidden sibling, which is renamed
 * onto the target in one move at the end. The sibling shares the target's file system, where a rename is atomic;
 * closing without {@link #commit()} deletes it, so a failed run leaves nothing that looks like a checkpoint.
 */
final class StagedDirectory implements AutoCloseable {
    private final Path target;
    private final Path staging;
    private final boolean replace;
    private boolean committed;

    private StagedDirectory(Path target, Path staging, boolean replace) {
        this.target = target;
        this.staging = staging;
        this.replace = replace;
    }

    /** Creates the staging directory for {@code target}; {@code replace} allows an existing target to be replaced. */
    static StagedDirectory create(Path target, boolean replace) {
        Path absolute = target.toAbsolutePath().normalize();
        Path staging = AtomicReplace.tempSibling(absolute);
        try {
            Files.createDirectories(absolute.getParent());
            Files.createDirectory(staging);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + staging + ": " + e.getMessage(), e);
        }
        return new StagedDirectory(absolute, staging, replace);
    }

    /** Where to write: the staging directory. */
    Path path() {
        return staging;
    }

    /** Moves the finished directory onto the target, replacing an old one if allowed. */
    void commit() {
        try {
            if (replace && Files.exists(target)) {
                DirectoryDeletion.deleteRecursively(target);
            }
            Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
            AtomicReplace.syncDirectory(target.getParent());
            committed = true;
        } catch (AtomicMoveNotSupportedException e) {
            throw new UncheckedIOException(target + ": the file system cannot rename " + staging.getFileName()
                    + " into place in one move", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot move " + staging + " to " + target + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        if (!committed) {
            try {
                DirectoryDeletion.deleteRecursively(staging);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot remove the unfinished output " + staging + ": " + e.getMessage(), e);
            }
        }
    }
}
