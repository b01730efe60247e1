package dev.moeshard.safetensors;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Shapes;
import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor as a safetensors header describes it: name, dtype, shape, and its bytes {@code [begin, end)} relative to
 * the start of the data section (not of the file).
 *
 * <p>The shape array is copied in and out, so an entry is immutable.
 */
public record TensorEntry(String name, DType dtype, long[] shape, long begin, long end) {

    public TensorEntry {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements; 1 for a 0-d tensor. */
    public long numel() {
        return Shapes.numel(shape);
    }

    /** Bytes the tensor occupies in the data section. */
    public long byteSize() {
        return end - begin;
    }

    /** The (name, dtype, shape) part, without offsets. */
    public TensorSpec spec() {
        return new TensorSpec(name, dtype, shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorEntry e && name.equals(e.name) && dtype == e.dtype && Arrays.equals(shape, e.shape)
                && begin == e.begin && end == e.end;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
    }

    @Override
    public String toString() {
        return name + ": " + dtype + Shapes.format(shape) + " @ [" + begin + ", " + end + ")";
    }
}
