package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reserving blocks is best effort: it never changes a file's size or contents, and a missing file is just a no. */
class FilePreallocationTest {

    @Test
    void reservingKeepsTheSizeAndTheBytes(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("f");
        Files.write(file, new byte[] {1, 2, 3});
        boolean reserved = FilePreallocation.reserve(file, 3);
        System.out.println("fallocate on " + Files.getFileStore(file).type() + ": " + reserved);
        assertEquals(3, Files.size(file));
        assertEquals(-1, Files.mismatch(file, writeExpected(dir)));
    }

    @Test
    void aMissingFileIsNotReserved(@TempDir Path dir) {
        assertFalse(FilePreallocation.reserve(dir.resolve("missing"), 4096));
    }

    private static Path writeExpected(Path dir) throws Exception {
        Path expected = dir.resolve("expected");
        Files.write(expected, new byte[] {1, 2, 3});
        return expected;
    }
}
