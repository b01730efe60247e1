package dev.moeshard.convert;

import dev.moeshard.safetensors.AtomicReplace;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.stream.Stream;

/**
 * Where an output is built before it appears whole: the hidden sibling {@code .NAME.tmp-staging} of the output
 * directory, on the same file system so that the final rename is atomic. Its name is a fixed function of the output,
 * so that every worker of one conversion, on any machine, writes its units into the same place, and a run that was
 * stopped can be continued. Besides the output's files it holds the job's bookkeeping under {@value #BOOKKEEPING}
 * (the job record, each finished unit's done-record), removed when the output is moved into place.
 *
 * <p>Replacing an existing output is atomic too: the new tree is complete and on disk first, then the old output is
 * renamed aside, the new one renamed in, and only then the old one removed; should the second rename fail, the old
 * one is renamed back, so that a failure at any point leaves the old output as it was.
 */
final class StagedDirectory {
    static final String BOOKKEEPING = ".moeshard";

    private final Path target;
    private final Path staging;

    private StagedDirectory(Path target) {
        this.target = target.toAbsolutePath().normalize();
        this.staging = this.target.resolveSibling(AtomicReplace.tempPrefix(this.target) + "staging");
    }

    /** The staging directory of {@code output}, which may or may not exist. */
    static StagedDirectory of(Path output) {
        return new StagedDirectory(output);
    }

    /** The output it is moved to. */
    Path target() {
        return target;
    }

    /** The staging directory itself. */
    Path path() {
        return staging;
    }

    /** The job's bookkeeping folder inside it. */
    Path bookkeeping() {
        return staging.resolve(BOOKKEEPING);
    }

    boolean exists() {
        return Files.exists(staging, LinkOption.NOFOLLOW_LINKS);
    }

    /** Creates it (and its bookkeeping folder) unless it exists; many workers may call this at once. */
    void create() {
        try {
            Files.createDirectories(bookkeeping().resolve("done"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + staging + ": " + e.getMessage(), e);
        }
    }

    /**
     * Moves the finished directory onto the target, replacing an old one if {@code replace}, after removing the
     * bookkeeping and the temporary files of writers that never finished, and forcing every directory of the new tree
     * to disk (the files were forced by their writers).
     */
    void commit(boolean replace) {
        try {
            DirectoryDeletion.deleteRecursively(bookkeeping());
            removeTemporaryFiles();
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
        } catch (AtomicMoveNotSupportedException e) {
            throw new UncheckedIOException(target + ": the file system cannot rename " + staging.getFileName()
                    + " into place in one move", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot move " + staging + " to " + target + ": " + e.getMessage(), e);
        }
    }

    /** Removes the staging directory and everything in it. */
    void delete() {
        for (int attempt = 0; attempt < 5 && exists(); attempt++) {
            try {
                DirectoryDeletion.deleteRecursively(staging);
            } catch (IOException e) {
                if (attempt == 4) {
                    throw new UncheckedIOException("cannot remove " + staging + ": " + e.getMessage(), e);
                }
                // a file created while the tree was walked (a writer thread still running): walk again
            }
        }
    }

    /** Removes the files of writers that stopped before renaming them into place. */
    void removeTemporaryFiles() throws IOException {
        if (!exists()) {
            return;
        }
        List<Path> temporary;
        try (Stream<Path> all = Files.walk(staging)) {
            temporary = all.filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS))
                    .filter(p -> p.getFileName().toString().startsWith(".")
                            && p.getFileName().toString().contains(".tmp-"))
                    .toList();
        }
        for (Path p : temporary) {
            Files.deleteIfExists(p);
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

    private static void syncDirectories(Path root) throws IOException {
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.filter(Files::isDirectory).toList()) {
                AtomicReplace.syncDirectory(p);
            }
        }
    }
}
