package dev.moeshard.convert;

import dev.moeshard.safetensors.PositionalReads;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A batch's sources read from their input files into scratch memory ({@link PositionalReads}) before the copy
 * kernels see them; sources that are not views of a mapped input pass as they are. Each read starts 64-byte
 * aligned, as the vector kernels like it.
 */
final class SourceReads {
    private static final long ALIGN = 64;

    private SourceReads() {}

    /** The scratch bytes {@link #read} needs for {@code sources}. */
    static long bytes(List<Tensor> sources) {
        long total = 0;
        for (Tensor s : sources) {
            if (PositionalReads.readable(s)) {
                total += aligned(s.byteSpan());
            }
        }
        return total;
    }

    /** {@code sources}, each mapped one replaced by the same view of its bytes read into {@code scratch}. */
    static List<Tensor> read(List<Tensor> sources, MemorySegment scratch) {
        List<Tensor> out = new ArrayList<>(sources.size());
        long at = 0;
        for (Tensor s : sources) {
            if (PositionalReads.readable(s)) {
                out.add(PositionalReads.read(s, scratch.asSlice(at)));
                at += aligned(s.byteSpan());
            } else {
                out.add(s);
            }
        }
        return out;
    }

    /** {@code bytes} rounded up to the alignment each read starts at. */
    static long aligned(long bytes) {
        return (bytes + ALIGN - 1) / ALIGN * ALIGN;
    }
}
