package dev.moeshard.properties.moe;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Predicate;

/**
 * The bytes of a state dict taken at one moment, so that a later comparison also notices a conversion that wrote
 * into its inputs. Equality is byte for byte: same keys, and per key the same dtype, shape and contiguous bytes.
 */
final class StateDictSnapshot {
    record Entry(DType dtype, long[] shape, byte[] bytes) {
        static Entry of(Tensor t) {
            return new Entry(t.dtype(), t.sizes(), t.contiguous().segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        }

        @Override
        public String toString() {
            return dtype + Arrays.toString(shape);
        }
    }

    private final Map<String, Entry> entries;

    private StateDictSnapshot(Map<String, Entry> entries) {
        this.entries = entries;
    }

    static StateDictSnapshot of(Map<String, Tensor> stateDict) {
        Map<String, Entry> m = new LinkedHashMap<>();
        stateDict.forEach((k, v) -> m.put(k, Entry.of(v)));
        return new StateDictSnapshot(m);
    }

    Map<String, Entry> entries() {
        return entries;
    }

    /** The entries whose keys {@code keep} accepts. */
    StateDictSnapshot filter(Predicate<String> keep) {
        Map<String, Entry> m = new LinkedHashMap<>();
        entries.forEach((k, v) -> {
            if (keep.test(k)) {
                m.put(k, v);
            }
        });
        return new StateDictSnapshot(m);
    }

    /** Fails, naming {@code what} and the first difference, unless {@code actual} holds exactly these tensors. */
    void assertSame(Map<String, Tensor> actual, String what) {
        if (!entries.keySet().equals(actual.keySet())) {
            TreeSet<String> missing = new TreeSet<>(entries.keySet());
            missing.removeAll(actual.keySet());
            TreeSet<String> extra = new TreeSet<>(actual.keySet());
            extra.removeAll(entries.keySet());
            throw new AssertionError(what + ": keys differ; missing " + missing + ", unexpected " + extra);
        }
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            assertSame(e.getValue(), actual.get(e.getKey()), what + ", " + e.getKey());
        }
    }

    static void assertSame(Entry expected, Tensor actual, String what) {
        if (expected.dtype() != actual.dtype() || !Arrays.equals(expected.shape(), actual.sizes())) {
            throw new AssertionError(what + ": expected " + expected + ", got " + actual);
        }
        byte[] got = Entry.of(actual).bytes();
        int at = Arrays.mismatch(expected.bytes(), got);
        if (at != -1) {
            throw new AssertionError(what + ": bytes differ from byte " + at + " of " + got.length);
        }
    }
}
