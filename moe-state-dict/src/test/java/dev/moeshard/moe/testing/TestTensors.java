package dev.moeshard.moe.testing;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import java.util.SplittableRandom;

/** Tensors of reproducible values for tests. */
public final class TestTensors {
    private TestTensors() {}

    /** Uniform values in [-2, 2) rounded to {@code dtype}, from {@code seed}. */
    public static Tensor random(long seed, DType dtype, long... sizes) {
        Tensor f64 = Tensor.allocate(DType.F64, sizes);
        SplittableRandom random = new SplittableRandom(seed);
        var seg = f64.segment();
        for (long i = 0; i < f64.numel(); i++) {
            seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_DOUBLE_UNALIGNED, i, random.nextDouble(-2, 2));
        }
        return f64.to(dtype);
    }

    /** Element {@code index} read as a double. */
    public static double at(Tensor t, long... index) {
        return t.getDouble(index);
    }

    /** A tensor whose every element is {@code value}. */
    public static Tensor filled(DType dtype, double value, long... sizes) {
        Tensor t = Tensor.allocate(dtype, sizes);
        Tensor flat = t.view(-1);
        for (long i = 0; i < flat.numel(); i++) {
            flat.setDouble(value, i);
        }
        return t;
    }
}
