package dev.moeshard.moe.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.moeshard.tensor.Tensor;
import java.util.Map;
import java.util.TreeSet;

/** Byte-exact comparisons of tensors and state dicts. */
public final class TensorAssertions {
    private TensorAssertions() {}

    public static void assertSameBytes(Tensor expected, Tensor actual, String what) {
        assertEquals(expected.dtype(), actual.dtype(), what + ": dtype");
        assertArrayEquals(expected.sizes(), actual.sizes(), what + ": shape");
        long at = expected.contiguous().segment().mismatch(actual.contiguous().segment());
        if (at != -1) {
            fail(what + ": bytes differ from byte " + at);
        }
    }

    public static void assertSameStateDict(Map<String, Tensor> expected, Map<String, Tensor> actual) {
        assertEquals(new TreeSet<>(expected.keySet()), new TreeSet<>(actual.keySet()), "keys");
        for (Map.Entry<String, Tensor> e : expected.entrySet()) {
            assertSameBytes(e.getValue(), actual.get(e.getKey()), e.getKey());
        }
    }
}
