package dev.moeshard.tensor;

import dev.moeshard.tensor.copy.CopyEngine;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Joining and splitting tensors. {@link #cat} and {@link #stack} allocate one output and fill it with
 * {@link Tensor#copyFrom} into views of it; {@link #split} and {@link #chunk} return views and copy nothing.
 */
public final class TensorOps {
    private TensorOps() {}

    /** Concatenates along {@code dim}; all other sizes and the dtypes must agree. */
    public static Tensor cat(List<Tensor> tensors, int dim) {
        if (tensors.isEmpty()) {
            throw new IllegalArgumentException("cat needs at least one tensor");
        }
        Tensor first = tensors.get(0);
        int d = normalizeDim(dim, first.dim(), first.sizes());
        long[] outSizes = first.sizes();
        long total = 0;
        for (Tensor t : tensors) {
            requireCompatible(first, t, d, "cat");
            total = Math.addExact(total, t.size(d));
        }
        outSizes[d] = total;
        Tensor out = Tensor.allocate(first.device(), first.dtype(), outSizes);
        long at = 0;
        for (Tensor t : tensors) {
            out.narrow(d, at, t.size(d)).copyFrom(t);
            at += t.size(d);
        }
        return out;
    }

    /** Stacks equal-shape tensors along a new dimension {@code dim}. */
    public static Tensor stack(List<Tensor> tensors, int dim) {
        if (tensors.isEmpty()) {
            throw new IllegalArgumentException("stack needs at least one tensor");
        }
        Tensor first = tensors.get(0);
        List<Tensor> expanded = new ArrayList<>(tensors.size());
        for (Tensor t : tensors) {
            if (!Arrays.equals(first.sizes(), t.sizes()) || first.dtype() != t.dtype()) {
                throw new IllegalArgumentException("stack needs equal shapes and dtypes: " + first.dtype()
                        + Shapes.format(first.sizes()) + " vs " + t.dtype() + Shapes.format(t.sizes()));
            }
            expanded.add(t.unsqueeze(dim < 0 ? dim + first.dim() + 1 : dim));
        }
        return cat(expanded, dim < 0 ? dim + first.dim() + 1 : dim);
    }

    /**
     * {@code dsts[i].copyFrom(srcs[i])} for every i. On the host the pairs are shared out whole among the copy
     * threads; on a CUDA device, transposes of one geometry (a layer's experts being merged) run as one kernel
     * launch instead of one each.
     */
    public static void copyAll(List<Tensor> dsts, List<Tensor> srcs) {
        if (dsts.size() != srcs.size()) {
            throw new IllegalArgumentException(dsts.size() + " destinations but " + srcs.size() + " sources");
        }
        boolean allHost = dsts.stream().allMatch(t -> t.device().isCpu()) && srcs.stream().allMatch(t -> t.device().isCpu());
        if (allHost) {
            CopyEngine.shared().copyAll(dsts, srcs);
        } else {
            DeviceCopiesLookup.provider().copyAll(dsts, srcs);
        }
    }

    /** Views of consecutive pieces of {@code splitSize} along {@code dim}; the last may be shorter. */
    public static List<Tensor> split(Tensor t, long splitSize, int dim) {
        int d = normalizeDim(dim, t.dim(), t.sizes());
        if (splitSize <= 0) {
            throw new IllegalArgumentException("split size must be positive, got " + splitSize + " for shape "
                    + Shapes.format(t.sizes()));
        }
        List<Tensor> parts = new ArrayList<>();
        for (long start = 0; start < t.size(d); start += splitSize) {
            parts.add(t.narrow(d, start, Math.min(splitSize, t.size(d) - start)));
        }
        return parts;
    }

    /** Views of pieces with the given sizes along {@code dim}; the sizes must add up to the dimension. */
    public static List<Tensor> split(Tensor t, long[] sizes, int dim) {
        int d = normalizeDim(dim, t.dim(), t.sizes());
        long sum = 0;
        for (long s : sizes) {
            sum += s;
        }
        if (sum != t.size(d)) {
            throw new IllegalArgumentException("split sizes " + Arrays.toString(sizes) + " add up to " + sum
                    + ", but dimension " + d + " of shape " + Shapes.format(t.sizes()) + " is " + t.size(d));
        }
        List<Tensor> parts = new ArrayList<>(sizes.length);
        long start = 0;
        for (long s : sizes) {
            parts.add(t.narrow(d, start, s));
            start += s;
        }
        return parts;
    }

    /** {@code chunks} views of equal size along {@code dim} (rounded up, the last may be shorter), as PyTorch does. */
    public static List<Tensor> chunk(Tensor t, int chunks, int dim) {
        if (chunks <= 0) {
            throw new IllegalArgumentException("chunk count must be positive, got " + chunks + " for shape "
                    + Shapes.format(t.sizes()));
        }
        int d = normalizeDim(dim, t.dim(), t.sizes());
        long size = Math.max(1, Math.ceilDiv(t.size(d), chunks));
        return split(t, size, d);
    }

    private static void requireCompatible(Tensor first, Tensor t, int d, String op) {
        if (t.dtype() != first.dtype() || t.dim() != first.dim()) {
            throw new IllegalArgumentException(op + " needs equal dtypes and ranks: " + first.dtype()
                    + Shapes.format(first.sizes()) + " vs " + t.dtype() + Shapes.format(t.sizes()));
        }
        for (int k = 0; k < t.dim(); k++) {
            if (k != d && t.size(k) != first.size(k)) {
                throw new IllegalArgumentException(op + " along dimension " + d + " needs equal sizes elsewhere: "
                        + Shapes.format(first.sizes()) + " vs " + Shapes.format(t.sizes()));
            }
        }
    }

    private static int normalizeDim(int dim, int rank, long[] sizes) {
        int d = dim < 0 ? dim + rank : dim;
        if (d < 0 || d >= rank) {
            throw new IllegalArgumentException("dimension " + dim + " is out of range for shape " + Shapes.format(sizes));
        }
        return d;
    }
}
