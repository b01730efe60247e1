package dev.moeshard.safetensors;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Tensors of every dtype filled with reproducible random bytes. */
final class TestTensors {
    private TestTensors() {}

    /** A contiguous tensor whose bytes are random (so any bit pattern, NaNs included, must survive unchanged). */
    static Tensor random(DType dtype, long seed, long... shape) {
        Tensor t = Tensor.allocate(dtype, shape);
        byte[] bytes = new byte[Math.toIntExact(t.byteSize())];
        new Random(seed).nextBytes(bytes);
        t.segment().copyFrom(java.lang.foreign.MemorySegment.ofArray(bytes));
        return t;
    }

    /**
     * For every dtype: a 2-d tensor, a 0-d one and an empty one, in a stable order. Sub-byte dtypes get element counts
     * that fill whole bytes, and no 0-d tensor (one F4 element is half a byte).
     */
    static Map<String, Tensor> everyDtype() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        long seed = 1;
        for (DType dtype : DType.values()) {
            String n = dtype.safetensorsName().toLowerCase(java.util.Locale.ROOT);
            if (dtype.isByteAligned()) {
                out.put(n + ".matrix", random(dtype, seed++, 3, 5));
                out.put(n + ".scalar", random(dtype, seed++));
            } else {
                // 24 F4 elements are 12 bytes; 16 F6 elements are 12 bytes.
                out.put(n + ".matrix", random(dtype, seed++, dtype.bits() == 4 ? new long[] {4, 6} : new long[] {4, 4}));
            }
            out.put(n + ".empty", random(dtype, seed++, 0, 3));
        }
        return out;
    }

    static byte[] bytes(Tensor t) {
        return t.contiguous().segment().toArray(ValueLayout.JAVA_BYTE);
    }
}
