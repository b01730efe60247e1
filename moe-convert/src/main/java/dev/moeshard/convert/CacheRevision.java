package dev.moeshard.convert;

import dev.moeshard.safetensors.InputFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * The snapshot a revision names in a Hugging Face cache repository folder, as huggingface_hub lays one out:
 * {@code refs/NAME} files (a branch or tag, {@code main} among them; names may hold slashes, as {@code refs/pr/1})
 * each holding a commit hash, and {@code snapshots/HASH/} folders. A revision is a ref name first, else a commit hash
 * or, as git takes it, a unique prefix of one (at least {@link #MIN_PREFIX} hex digits, so that a short word is not
 * read as a hash by accident).
 */
final class CacheRevision {
    static final int MIN_PREFIX = 4;

    private CacheRevision() {}

    static Path snapshot(Path repo, String revision) {
        requireName(revision);
        Path snapshots = repo.resolve("snapshots");
        Path ref = repo.resolve("refs").resolve(revision);
        if (InputFile.exists(ref) && !Files.isDirectory(ref)) {
            String commit = readRef(ref);
            Path named = snapshots.resolve(commit);
            if (!commit.matches("[0-9a-fA-F]{" + MIN_PREFIX + ",64}") || !Files.isDirectory(named)) {
                throw new InvalidInputException(ref.toString(), List.of("refs/" + revision + " names commit '"
                        + commit + "'; expected a folder of that name in snapshots/, found "
                        + snapshotNames(snapshots)));
            }
            return named;
        }
        if (revision.matches("[0-9a-fA-F]{" + MIN_PREFIX + ",64}")) {
            List<Path> matches = children(snapshots).stream()
                    .filter(p -> p.getFileName().toString().startsWith(revision)).toList();
            List<Path> exact = matches.stream().filter(p -> p.getFileName().toString().equals(revision)).toList();
            if (!exact.isEmpty()) {
                return exact.getFirst();
            }
            if (matches.size() == 1) {
                return matches.getFirst();
            }
            if (matches.size() > 1) {
                throw new InvalidInputException(repo.toString(), List.of("revision '" + revision + "' begins "
                        + matches.size() + " snapshots (" + String.join(", ", names(matches)) + "); expected one: "
                        + "give more of the hash"));
            }
        }
        throw new InvalidInputException(repo.toString(), List.of("no snapshot for revision '" + revision
                + "': expected a ref in refs/ (found " + refNames(repo.resolve("refs")) + ") or a commit hash, or a "
                + "unique prefix of one of at least " + MIN_PREFIX + " hex digits, in snapshots/ (found "
                + snapshotNames(snapshots) + ")"));
    }

    /** A revision is a name under refs/, never a path out of it. */
    private static void requireName(String revision) {
        boolean bad = revision.isEmpty() || revision.startsWith("/") || revision.contains("\\")
                || revision.chars().anyMatch(Character::isISOControl);
        for (String part : revision.split("/", -1)) {
            bad |= part.isEmpty() || part.equals(".") || part.equals("..");
        }
        if (bad) {
            throw new UsageException("--revision '" + revision + "' is not a ref name (main, a branch, a tag) or a "
                    + "commit hash");
        }
    }

    private static String readRef(Path ref) {
        InputFile.requireRegular(ref, "ref file");
        try {
            // A ref holds one 40-digit hash; reading a bounded head keeps a hostile huge file from being read whole.
            byte[] head;
            try (var in = Files.newInputStream(ref)) {
                head = in.readNBytes(256);
            }
            return new String(head, StandardCharsets.US_ASCII).strip();
        } catch (IOException e) {
            throw new UncheckedIOException(ref + ": cannot read the ref: " + e.getMessage(), e);
        }
    }

    /** The folders directly in {@code dir}, sorted by name; none when it is missing. */
    private static List<Path> children(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> list = Files.list(dir)) {
            return list.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    /** The ref names under {@code refs}, slashes included, for a message. */
    private static String refNames(Path refs) {
        if (!Files.isDirectory(refs)) {
            return "none";
        }
        try (Stream<Path> walk = Files.walk(refs, 4)) {
            List<String> names = walk.filter(Files::isRegularFile)
                    .map(p -> refs.relativize(p).toString().replace('\\', '/')).sorted().toList();
            return names.isEmpty() ? "none" : String.join(", ", names);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + refs + ": " + e.getMessage(), e);
        }
    }

    private static String snapshotNames(Path snapshots) {
        List<String> names = names(children(snapshots));
        return names.isEmpty() ? "none" : String.join(", ", names);
    }

    private static List<String> names(List<Path> paths) {
        return paths.stream().map(p -> p.getFileName().toString()).toList();
    }
}
