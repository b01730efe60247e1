package dev.moeshard.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moeshard.safetensors.Checkpoint;
import java.nio.file.Path;
import java.util.HashSet;

/** Assertions that a checkpoint came back from a round trip unchanged. */
final class RoundTrip {
    private RoundTrip() {}

    /** {@code actual} holds exactly {@code expected}'s tensors: same keys, dtypes, shapes and bytes. */
    static void assertSameTensors(Path expected, Path actual) {
        try (Checkpoint want = Checkpoint.open(expected); Checkpoint got = Checkpoint.open(actual)) {
            assertEquals(new HashSet<>(want.keys()), new HashSet<>(got.keys()));
            for (String key : want.keys()) {
                assertEquals(want.entry(key).dtype(), got.entry(key).dtype(), key);
                assertArrayEquals(want.entry(key).shape(), got.entry(key).shape(), key);
                assertEquals(-1, want.tensor(key).segment().mismatch(got.tensor(key).segment()), key + " differs");
            }
        }
    }
}
