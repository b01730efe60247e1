package dev.moeshard.properties.safetensors;

import dev.moeshard.properties.harness.Gen;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;

/** Random sets of named tensors of every dtype (sub-byte ones with whole-byte element counts), and metadata. */
final class TensorSets {
    private static final String NAME_CHARS = "abcxyz019._-/ é漢";

    private TensorSets() {}

    static Map<String, Tensor> random(Gen gen) {
        Map<String, Tensor> set = new LinkedHashMap<>();
        for (int n = gen.upTo(0, 6); n > 0; n--) {
            DType dtype = gen.oneOf(DType.values());
            long[] shape = gen.shape(3, 6);
            if (!dtype.isByteAligned()) {
                // F4 needs an even count, the F6 formats a multiple of 4, to fill whole bytes.
                shape = new long[] {4L * gen.between(0, 5)};
            }
            Tensor t = Tensor.allocate(dtype, shape);
            byte[] bytes = new byte[(int) t.byteSize()];
            gen.nextBytes(bytes);
            MemorySegment.copy(MemorySegment.ofArray(bytes), 0, t.segment(), 0, bytes.length);
            set.put(name(gen), t);
        }
        set.remove("__metadata__");
        return set;
    }

    static Map<String, String> metadata(Gen gen) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int n = gen.chance(0.5) ? 0 : gen.between(1, 3); n > 0; n--) {
            m.put(name(gen), name(gen));
        }
        return m;
    }

    private static String name(Gen gen) {
        StringBuilder sb = new StringBuilder();
        for (int n = gen.between(1, 12); n > 0; n--) {
            sb.append(NAME_CHARS.charAt(gen.between(0, NAME_CHARS.length() - 1)));
        }
        return sb.toString();
    }
}
