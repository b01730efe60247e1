package dev.moeshard.convert;

import dev.moeshard.safetensors.InputFile;
import dev.moeshard.safetensors.SafetensorsIndex;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * An input path as users have it, turned into the checkpoint it names. A Hugging Face cache repository folder
 * ({@code models--org--name/}, with {@code refs/} and {@code snapshots/}) stands for the snapshot its ref names
 * ({@code refs/main}); its files are links into
 * {@code blobs/}, which are followed. A {@code model.safetensors.index.json} stands for its folder, and so does one
 * shard of an indexed folder, which alone would be a fraction of the model. Anything else is itself.
 */
final class InputPaths {
    private InputPaths() {}

    static Path resolve(Path input) {
        if (Files.isDirectory(input) && Files.isDirectory(input.resolve("snapshots"))
                && input.getFileName() != null && input.getFileName().toString().startsWith("models--")) {
            return snapshot(input, "main");
        }
        String name = input.getFileName() == null ? "" : input.getFileName().toString();
        Path parent = input.toAbsolutePath().getParent();
        if (name.equals(SafetensorsIndex.FILE_NAME) && parent != null) {
            return parent;
        }
        if (name.endsWith(".safetensors") && parent != null && Files.isRegularFile(input)
                && InputFile.exists(parent.resolve(SafetensorsIndex.FILE_NAME))
                && SafetensorsIndex.read(parent.resolve(SafetensorsIndex.FILE_NAME)).shardNames().contains(name)) {
            return parent;
        }
        return input;
    }

    private static Path snapshot(Path repo, String revision) {
        Path ref = repo.resolve("refs").resolve(revision);
        String commit = revision;
        if (Files.isRegularFile(ref)) {
            try {
                commit = Files.readString(ref).strip();
            } catch (IOException e) {
                throw new UncheckedIOException(ref + ": cannot read the ref: " + e.getMessage(), e);
            }
        }
        if (!commit.matches("[0-9a-fA-F]{6,64}") || !Files.isDirectory(repo.resolve("snapshots").resolve(commit))) {
            throw new InvalidInputException(repo.toString(), List.of("no snapshot for revision '" + revision
                    + "': " + (Files.isRegularFile(ref) ? "refs/" + revision + " names " + commit + ", which is not "
                    + "in snapshots/" : "no refs/" + revision + " and no snapshots/" + revision)));
        }
        return repo.resolve("snapshots").resolve(commit);
    }
}
