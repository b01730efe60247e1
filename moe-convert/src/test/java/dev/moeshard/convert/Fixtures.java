package dev.moeshard.convert;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * The sample checkpoints of moe-state-dict's tests, shared rather than copied (tests run from their module's folder,
 * one below the repository root); the cli's tests use them through this module's test jar.
 */
public final class Fixtures {
    public static final Path ROOT = Path.of("../moe-state-dict/src/test/resources/fixtures");

    private Fixtures() {}

    public static Path of(String name) {
        Path p = ROOT.resolve(name);
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException("fixture " + p.toAbsolutePath() + " not found");
        }
        return p;
    }

    /** A writable copy of fixture {@code name} under {@code dir}, for tests that damage it. */
    public static Path copy(String name, Path dir) {
        Path target = dir.resolve(name);
        try (Stream<Path> files = Files.list(of(name))) {
            Files.createDirectories(target);
            for (Path f : files.toList()) {
                Files.copy(f, target.resolve(f.getFileName()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return target;
    }
}
