package dev.moeshard.tensor.copy;

import dev.moeshard.tensor.ElementAccess;
import dev.moeshard.tensor.Shapes;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.convert.Converters;
import java.util.Arrays;

/** Moves elements between two same-shape strided tensors. (Provisional: a plain gather.) */
public final class CopyEngine {
    private static final CopyEngine SHARED = new CopyEngine();

    public static CopyEngine shared() {
        return SHARED;
    }

    public void copy(Tensor dst, Tensor src) {
        if (!Arrays.equals(dst.sizes(), src.sizes())) {
            throw new IllegalArgumentException("copy needs equal shapes: destination " + Shapes.format(dst.sizes())
                    + ", source " + Shapes.format(src.sizes()));
        }
        long n = dst.numel();
        long[] sizes = dst.sizes();
        long[] index = new long[sizes.length];
        var converter = dst.dtype() == src.dtype() ? null : Converters.best(src.dtype(), dst.dtype());
        int w = src.dtype().byteSize();
        for (long i = 0; i < n; i++) {
            long so = src.byteOffsetOf(index);
            long d = dst.byteOffsetOf(index);
            if (converter == null) {
                ElementAccess.writeBits(dst.storage(), d, w, ElementAccess.readBits(src.storage(), so, w));
            } else {
                converter.convert(src.storage(), so, w, dst.storage(), d, dst.dtype().byteSize(), 1);
            }
            for (int k = sizes.length - 1; k >= 0; k--) {
                if (++index[k] < sizes[k]) {
                    break;
                }
                index[k] = 0;
            }
        }
    }
}
