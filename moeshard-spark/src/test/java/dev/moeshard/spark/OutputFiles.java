package dev.moeshard.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** Two output directories compared file by file, byte for byte. */
final class OutputFiles {
    private OutputFiles() {}

    /** Asserts that {@code actual} holds the same relative file names as {@code expected}, each with the same bytes. */
    static void assertSame(Path expected, Path actual) {
        List<String> names = relativeFiles(expected);
        assertFalse(names.isEmpty(), expected + " holds no files");
        assertEquals(names, relativeFiles(actual), "the files of " + actual);
        for (String name : names) {
            try {
                assertArrayEquals(Files.readAllBytes(expected.resolve(name)), Files.readAllBytes(actual.resolve(name)),
                        name + " differs");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Asserts that no hidden staging directory (a {@code .NAME.tmp-...} sibling of an output) is left in {@code dir}. */
    static void assertNoStagingLeft(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            List<String> hidden = files.map(f -> f.getFileName().toString()).filter(n -> n.startsWith(".")).toList();
            assertEquals(List.of(), hidden, "left in " + dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every regular file under {@code root}, as sorted relative paths. */
    static List<String> relativeFiles(Path root) {
        try (Stream<Path> files = Files.walk(root)) {
            return files.filter(Files::isRegularFile).map(f -> root.relativize(f).toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
