package dev.moeshard.convert;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * A Hugging Face cache repository folder made in a test, laid out as huggingface_hub lays one out:
 * {@code models--org--name/} with {@code snapshots/HASH/} folders whose files are relative links into {@code blobs/},
 * and {@code refs/NAME} files holding a hash. Shared with the cli's tests through this module's test jar.
 */
public final class HfCacheFolder {
    private final Path repo;
    private int blobs;

    private HfCacheFolder(Path repo) {
        this.repo = repo;
    }

    /** An empty repository folder {@code dir/models--org--NAME}. */
    public static HfCacheFolder in(Path dir, String name) {
        try {
            Path repo = dir.resolve("models--org--" + name);
            Files.createDirectories(repo.resolve("snapshots"));
            Files.createDirectories(repo.resolve("blobs"));
            Files.createDirectories(repo.resolve("refs"));
            return new HfCacheFolder(repo);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Snapshot {@code hash}: every file under {@code source}, subfolders kept, as a link to a blob of its bytes. */
    public HfCacheFolder snapshot(String hash, Path source) {
        Path snapshot = repo.resolve("snapshots").resolve(hash);
        try (Stream<Path> walk = Files.walk(source)) {
            for (Path file : walk.filter(Files::isRegularFile).sorted().toList()) {
                Path link = snapshot.resolve(source.relativize(file).toString());
                Files.createDirectories(link.getParent());
                Path blob = repo.resolve("blobs").resolve("blob-" + blobs++);
                Files.copy(file, blob);
                Files.createSymbolicLink(link, link.getParent().relativize(blob));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    /** {@code refs/NAME} naming {@code hash}, as huggingface_hub writes it (no newline). */
    public HfCacheFolder ref(String name, String hash) {
        try {
            Path ref = repo.resolve("refs").resolve(name);
            Files.createDirectories(ref.getParent());
            Files.writeString(ref, hash);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    public Path path() {
        return repo;
    }

    public Path snapshotPath(String hash) {
        return repo.resolve("snapshots").resolve(hash);
    }
}
