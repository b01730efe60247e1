package dev.moeshard.convert;

import dev.moeshard.safetensors.AtomicReplace;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * An output directory that appears whole or not at all: everything is written into a hidden sibling, which is renamed
 * onto the target in one move at the end. The sibling shares the target's file system, where a rename is atomic;
 * closing without {@link #commit()} deletes it, so a failed run leaves nothing that looks like a checkpoint.
 *
 * <p>Replacing an existing target is atomic too: the new tree is complete and on disk first, then the old target is
 * renamed aside, the new one renamed in, and only then the old one removed; should the second rename fail, the old
 * one is renamed back, so a failure at any point leaves the old output as it was. While it is being written the
 * staging directory holds {@value StagingOwner#FILE_NAME}, naming the process, so that a later run can tell the
 * remains of a killed one ({@link StagingOwner#stale}).
 */
final class StagedDirectory implements AutoCloseable {
    /** Every staging directory of this process not yet committed or closed, for {@link #abandonAll}. */
    private static final Set<StagedDirectory> OPEN = ConcurrentHashMap.newKeySet();

    private final Path target;
    private final Path staging;
    private final boolean replace;
    private volatile boolean finished;

    private StagedDirectory(Path target, Path staging, boolean replace) {
        this.target = target;
        this.staging = staging;
        this.replace = replace;
    }

    /**
     * {@link #create(Path, boolean)}, after telling {@code listener} of staging directories that killed runs left
     * beside the target, and how to remove them.
     */
    static StagedDirectory create(Path target, boolean replace, ProgressListener listener) {
        for (Path stale : StagingOwner.stale(target)) {
            listener.message("found " + stale + ", the unfinished output of a run that was stopped before it "
                    + "finished; nothing reads it: remove it with rm -rf '" + stale + "'");
        }
        return create(target, replace);
    }

    /** Creates the staging directory for {@code target}; {@code replace} allows an existing target to be replaced. */
    static StagedDirectory create(Path target, boolean replace) {
        Path absolute = target.toAbsolutePath().normalize();
        Path staging = AtomicReplace.tempSibling(absolute);
        try {
            Files.createDirectories(absolute.getParent());
            Files.createDirectory(staging);
            StagingOwner.write(staging);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + staging + ": " + e.getMessage(), e);
        }
        StagedDirectory staged = new StagedDirectory(absolute, staging, replace);
        OPEN.add(staged);
        return staged;
    }

    /** Where to write: the staging directory. */
    Path path() {
        return staging;
    }

    /**
     * Moves the finished directory onto the target, replacing an old one if allowed, after forcing every directory of
     * the new tree to disk (the files were forced by their writers).
     */
    void commit() {
        try {
            StagingOwner.remove(staging);
            syncDirectories(staging);
            if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                if (!replace) {
                    throw new UsageException(target + " appeared while it was being written; pass --force to replace it");
                }
                replaceAtomically();
            } else {
                Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
                AtomicReplace.syncDirectory(target.getParent());
            }
            finished = true;
            OPEN.remove(this);
        } catch (AtomicMoveNotSupportedException e) {
            throw new UncheckedIOException(target + ": the file system cannot rename " + staging.getFileName()
                    + " into place in one move", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot move " + staging + " to " + target + ": " + e.getMessage(), e);
        }
    }

    private void replaceAtomically() throws IOException {
        Path aside = AtomicReplace.tempSibling(target);
        Files.move(target, aside, StandardCopyOption.ATOMIC_MOVE);
        try {
            Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            Files.move(aside, target, StandardCopyOption.ATOMIC_MOVE); // the old output back, as it was
            throw e;
        }
        AtomicReplace.syncDirectory(target.getParent());
        DirectoryDeletion.deleteRecursively(aside);
    }

    @Override
    public void close() {
        if (!finished) {
            finished = true;
            OPEN.remove(this);
            try {
                DirectoryDeletion.deleteRecursively(staging);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot remove the unfinished output " + staging + ": " + e.getMessage(), e);
            }
        }
    }

    /**
     * Removes every staging directory of this process that is not committed: for a process being stopped by a signal,
     * whose jobs will never finish. Returns the directories removed. Best effort, as files may still be appearing in
     * them while the job's threads run on.
     */
    static List<Path> abandonAll() {
        List<Path> removed = new ArrayList<>();
        for (StagedDirectory staged : List.copyOf(OPEN)) {
            staged.finished = true;
            OPEN.remove(staged);
            for (int attempt = 0; attempt < 5 && Files.exists(staged.staging, LinkOption.NOFOLLOW_LINKS); attempt++) {
                try {
                    DirectoryDeletion.deleteRecursively(staged.staging);
                } catch (IOException e) {
                    // a file created while the tree was walked: walk again
                }
            }
            removed.add(staged.staging);
        }
        return removed;
    }

    private static void syncDirectories(Path root) throws IOException {
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.filter(Files::isDirectory).toList()) {
                AtomicReplace.syncDirectory(p);
            }
        }
    }
}
