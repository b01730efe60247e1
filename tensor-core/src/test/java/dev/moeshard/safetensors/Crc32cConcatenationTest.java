package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("no-flags")
class Crc32cConcatenationTest {
    private static int crc(byte[] bytes, int from, int to) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, from, to - from);
        return (int) crc.getValue();
    }

    @Test
    void theChecksumsOfTwoPartsJoinIntoTheChecksumOfTheWholeAtEverySplit() {
        Random random = new Random(41);
        for (int trial = 0; trial < 300; trial++) {
            byte[] bytes = new byte[random.nextInt(trial < 100 ? 40 : 300_000)];
            random.nextBytes(bytes);
            int split = bytes.length == 0 ? 0 : random.nextInt(bytes.length + 1);
            assertEquals(crc(bytes, 0, bytes.length), Crc32cConcatenation.of(crc(bytes, 0, split),
                    crc(bytes, split, bytes.length), bytes.length - split), "split " + split + " of " + bytes.length);
        }
    }

    @Test
    void joiningOntoNothingOrNothingOntoAPartLeavesThePart() {
        byte[] bytes = "block checksums".getBytes();
        int whole = crc(bytes, 0, bytes.length);
        assertEquals(whole, Crc32cConcatenation.of(0, whole, bytes.length));
        assertEquals(whole, Crc32cConcatenation.of(whole, 0, 0));
    }

    @Test
    void manyPartsJoinedInOrderGiveTheWhole() {
        Random random = new Random(7);
        byte[] bytes = new byte[1 << 20];
        random.nextBytes(bytes);
        int joined = 0;
        for (int at = 0; at < bytes.length; ) {
            int next = Math.min(bytes.length, at + 1 + random.nextInt(50_000));
            joined = Crc32cConcatenation.of(joined, crc(bytes, at, next), next - at);
            at = next;
        }
        assertEquals(crc(bytes, 0, bytes.length), joined);
    }

    @Test
    void aLongRunOfZeroBytesJoinsAsItsChecksumSays() {
        byte[] zeros = new byte[3 << 20];
        byte[] head = {1, 2, 3};
        byte[] whole = new byte[head.length + zeros.length];
        System.arraycopy(head, 0, whole, 0, head.length);
        assertEquals(crc(whole, 0, whole.length),
                Crc32cConcatenation.of(crc(head, 0, head.length), crc(zeros, 0, zeros.length), zeros.length));
    }

    @Test
    void aNegativeLengthIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> Crc32cConcatenation.of(1, 2, -1));
    }
}
