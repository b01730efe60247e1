package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Block checksums taken from the writes equal those of the file's bytes, whatever the writes and their order. */
@Tag("no-flags")
class WrittenChecksumsTest {
    private static final long BLOCK = 10_000;

    @TempDir
    Path dir;

    private static List<Integer> expected(byte[] file) {
        List<Integer> sums = new ArrayList<>();
        for (long at = 0; at < Math.max(1, file.length); at += BLOCK) {
            CRC32C crc = new CRC32C();
            crc.update(file, (int) at, (int) Math.min(BLOCK, file.length - at));
            sums.add((int) crc.getValue());
        }
        return sums;
    }

    private List<Integer> taken(byte[] file, WrittenChecksums checksums) throws IOException {
        Path path = dir.resolve("file.bin");
        Files.write(path, file);
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            return checksums.finish(channel, file.length);
        }
    }

    @Test
    void piecesWrittenInAnyOrderAcrossBlockBoundariesWithGapsGiveTheFilesChecksums() throws IOException {
        Random random = new Random(3);
        for (int trial = 0; trial < 40; trial++) {
            byte[] file = new byte[1 + random.nextInt(60_000)];
            random.nextBytes(file);
            List<long[]> pieces = new ArrayList<>();
            for (int at = 0; at < file.length; ) {
                int next = Math.min(file.length, at + 1 + random.nextInt(15_000));
                if (random.nextInt(4) != 0) { // a quarter left out: written some other way, read back
                    pieces.add(new long[] {at, next});
                }
                at = next;
            }
            Collections.shuffle(pieces, random);
            WrittenChecksums checksums = new WrittenChecksums(dir.resolve("file.bin"), BLOCK);
            MemorySegment bytes = MemorySegment.ofArray(file);
            pieces.forEach(p -> checksums.wrote(p[0], bytes.asSlice(p[0], p[1] - p[0])));
            assertEquals(expected(file), taken(file, checksums), "trial " + trial);
        }
    }

    @Test
    void aRegionWrittenTwiceIsReadBackRatherThanJoinedTwice() throws IOException {
        byte[] file = new byte[25_000];
        new Random(5).nextBytes(file);
        WrittenChecksums checksums = new WrittenChecksums(dir.resolve("file.bin"), BLOCK);
        MemorySegment stale = MemorySegment.ofArray(new byte[file.length]); // what was there before the rewrite
        checksums.wrote(0, stale.asSlice(0, 12_000));
        checksums.wrote(0, MemorySegment.ofArray(file));
        assertEquals(expected(file), taken(file, checksums));
    }

    @Test
    void anEmptyFileHasOneChecksumOfNoBytes() throws IOException {
        assertEquals(List.of(0), taken(new byte[0], new WrittenChecksums(dir.resolve("file.bin"), BLOCK)));
    }
}
