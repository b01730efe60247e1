package dev.moeshard.convert;

import dev.moeshard.safetensors.InputFile;
import dev.moeshard.safetensors.SafetensorsIndex;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An input path as users have it, turned into the checkpoint it names. A Hugging Face cache repository folder
 * ({@code models--org--name/}, with {@code refs/} and {@code snapshots/}) stands for one of its snapshots
 * ({@link CacheRevision}: {@code refs/main} unless a revision is asked for); its files are links into
 * {@code blobs/}, which are followed. A {@code model.safetensors.index.json} stands for its folder, and so does one
 * shard of an indexed folder, which alone would be a fraction of the model. Anything else is itself.
 */
final class InputPaths {
    private InputPaths() {}

    static Path resolve(Path input) {
        Path snapshot = atRevision(input, null);
        if (!snapshot.equals(input)) {
            return snapshot;
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

    /**
     * The snapshot folder {@code revision} names when {@code input} is a cache repository folder ({@code refs/main}'s
     * for a null revision), else {@code input} itself. A revision for anything else is refused: it would be ignored.
     */
    static Path atRevision(Path input, String revision) {
        if (isCacheRepository(input)) {
            return CacheRevision.snapshot(input, revision == null ? "main" : revision);
        }
        if (revision != null) {
            throw new UsageException("--revision " + revision + ": " + input + " is not a Hugging Face cache "
                    + "repository folder (models--ORG--NAME/ with refs/ and snapshots/), the only input a revision "
                    + "picks from");
        }
        return input;
    }

    static boolean isCacheRepository(Path input) {
        return Files.isDirectory(input) && Files.isDirectory(input.resolve("snapshots"))
                && input.getFileName() != null && input.getFileName().toString().startsWith("models--");
    }
}
