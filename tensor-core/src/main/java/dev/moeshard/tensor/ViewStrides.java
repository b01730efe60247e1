package dev.moeshard.tensor;

/**
 * Strides for viewing a strided tensor under a new shape without copying, or {@code null} when none exist.
 *
 * <p>The old dimensions are walked in chunks that are contiguous among themselves (each stride equals the next
 * stride times the next size); a chunk may be re-split into any new sizes with the same element count. A new
 * dimension that would straddle two chunks has no single stride, so the view is impossible.
 */
final class ViewStrides {
    private ViewStrides() {}

    static long[] compute(long[] oldSizes, long[] oldStrides, long[] newSizes) {
        long numel = Shapes.numel(oldSizes);
        if (numel == 0 || oldSizes.length == 0) {
            return Shapes.contiguousStrides(newSizes);
        }
        long[] newStrides = new long[newSizes.length];
        int viewD = newSizes.length - 1;
        long chunkBaseStride = oldStrides[oldStrides.length - 1];
        long tensorNumel = 1;
        long viewNumel = 1;
        for (int tensorD = oldSizes.length - 1; tensorD >= 0; tensorD--) {
            tensorNumel *= oldSizes[tensorD];
            boolean chunkEnds = tensorD == 0
                    || (oldSizes[tensorD - 1] != 1 && oldStrides[tensorD - 1] != tensorNumel * chunkBaseStride);
            if (chunkEnds) {
                while (viewD >= 0 && (viewNumel < tensorNumel || newSizes[viewD] == 1)) {
                    newStrides[viewD] = viewNumel * chunkBaseStride;
                    viewNumel *= newSizes[viewD];
                    viewD--;
                }
                if (viewNumel != tensorNumel) {
                    return null;
                }
                if (tensorD > 0) {
                    chunkBaseStride = oldStrides[tensorD - 1];
                    tensorNumel = 1;
                    viewNumel = 1;
                }
            }
        }
        return viewD == -1 ? newStrides : null;
    }
}
