package dev.moeshard.safetensors;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Shapes;
import dev.moeshard.tensor.Tensor;
import java.util.Arrays;
import java.util.Objects;

/**
 * A tensor to be written: name, dtype and shape. The writer gives it its place in the file.
 *
 * <p>The shape is checked (no negative size, an element count that fits a {@code long}) and copied in and out.
 */
public record TensorSpec(String name, DType dtype, long[] shape) {

    public TensorSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        try {
            shape = Shapes.checkSizes(shape);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("tensor '" + name + "': " + e.getMessage(), e);
        }
    }

    /** The spec of a tensor that already exists: its dtype and sizes. */
    public static TensorSpec of(String name, Tensor tensor) {
        return new TensorSpec(name, tensor.dtype(), tensor.sizes());
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements; 1 for a 0-d tensor. */
    public long numel() {
        return Shapes.numel(shape);
    }

    /**
     * Bytes the tensor takes in a file.
     *
     * @throws IllegalArgumentException if that does not fit a {@code long}
     */
    public long byteSize() {
        try {
            return dtype.storageBytes(numel());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("tensor '" + name + "' of " + dtype + Shapes.format(shape)
                    + " has more bytes than a long can count", e);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorSpec s && name.equals(s.name) && dtype == s.dtype && Arrays.equals(shape, s.shape);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape));
    }

    @Override
    public String toString() {
        return name + ": " + dtype + Shapes.format(shape);
    }
}
