package dev.moeshard.tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A random strided view of a prescribed shape into a larger freshly allocated base tensor, together with the view
 * chain that made it and the storage position of each of its elements (from the naive model, not from the tensor).
 *
 * <p>The chain: optionally a {@code view} of a flat base into the base shape, then a slice per dimension (random
 * offset, random step, random padding after), a {@code select} of any extra base dimensions, a permutation (or a
 * transpose) back into the requested order, and, where allowed, an {@code expand} of dimensions that were sliced down
 * to size 1 (stride 0). Without {@code expand} no two elements share storage, so the view can be a copy destination.
 */
record StridedView(Tensor base, List<ViewOp> ops, Tensor view, NaiveTensor positions) {

    /** The values of {@link #view} given the values of {@link #base} (row-major, as {@link RandomBits#fill} returns). */
    NaiveTensor values(NaiveTensor baseValues) {
        long[] data = baseValues.data();
        return positions.map(p -> data[Math.toIntExact(p)]);
    }

    @Override
    public String toString() {
        return base + " -> " + ops + " -> " + view;
    }

    static StridedView random(SplittableRandom r, DType dtype, long[] shape, boolean allowExpand) {
        int k = shape.length;
        // Base dimension i holds requested dimension perm[i] (or an extra dimension, perm[i] = -1).
        List<Integer> slots = new ArrayList<>();
        for (int j = 0; j < k; j++) {
            slots.add(j);
        }
        if (r.nextInt(3) != 0) {
            for (int i = k - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                slots.set(i, slots.set(j, slots.get(i)));
            }
        }
        int extras = r.nextInt(5) == 0 ? 2 : r.nextInt(2);
        for (int e = 0; e < extras && slots.size() < 6; e++) {
            slots.add(r.nextInt(slots.size() + 1), -1);
        }
        int n = slots.size();
        long[] baseShape = new long[n];
        List<ViewOp> ops = new ArrayList<>();
        List<ViewOp> slices = new ArrayList<>();
        List<ViewOp> selects = new ArrayList<>();
        boolean[] expanded = new boolean[k];
        for (int i = 0; i < n; i++) {
            int j = slots.get(i);
            if (j < 0) {
                baseShape[i] = 1 + r.nextInt(3);
                continue;
            }
            long size = shape[j];
            long before = r.nextInt(3) == 0 ? r.nextInt(3) : 0;
            long after = r.nextInt(3) == 0 ? 1 + r.nextInt(3) : 0;
            expanded[j] = allowExpand && size != 1 && r.nextInt(6) == 0;
            long count = expanded[j] ? 1 : size;
            long step = count > 1 && r.nextInt(3) == 0 ? 2 + r.nextInt(2) : 1;
            long span = count == 0 ? 0 : (count - 1) * step + 1;
            baseShape[i] = before + span + after;
            if (before != 0 || after != 0 || step != 1) {
                slices.add(step == 1 && r.nextBoolean()
                        ? new ViewOp.Narrow(i, before, span)
                        : new ViewOp.Slice(i, before, before + span, step));
            }
        }
        for (int i = n - 1; i >= 0; i--) { // right to left, so that earlier indices stay put
            if (slots.get(i) < 0) {
                selects.add(new ViewOp.Select(i, r.nextLong(baseShape[i])));
            }
        }
        Tensor base;
        if (r.nextInt(4) == 0) {
            base = Tensor.allocate(dtype, NaiveTensor.numelOf(baseShape));
            ops.add(new ViewOp.View(baseShape));
        } else {
            base = Tensor.allocate(dtype, baseShape);
        }
        ops.addAll(slices);
        ops.addAll(selects);
        int[] order = new int[k]; // result dimension j is current dimension order[j]
        for (int i = 0, c = 0; i < n; i++) {
            if (slots.get(i) >= 0) {
                order[slots.get(i)] = c++;
            }
        }
        boolean identity = true;
        for (int j = 0; j < k; j++) {
            identity &= order[j] == j;
        }
        if (k == 2 && !identity && r.nextBoolean()) {
            ops.add(new ViewOp.Transpose(0, 1));
        } else if (!identity || r.nextInt(8) == 0) {
            ops.add(new ViewOp.Permute(order));
        }
        boolean anyExpanded = false;
        long[] expandTo = new long[k];
        for (int j = 0; j < k; j++) {
            anyExpanded |= expanded[j];
            expandTo[j] = expanded[j] ? shape[j] : (r.nextBoolean() ? -1 : shape[j]);
        }
        if (anyExpanded) {
            ops.add(new ViewOp.Expand(expandTo));
        }
        Tensor view = ViewOp.applyAll(ops, base);
        NaiveTensor positions = ViewOp.applyAll(ops, NaiveTensor.iota(base.sizes()));
        if (!Arrays.equals(view.sizes(), shape)) {
            throw new AssertionError("test bug: built " + view + " for shape " + Arrays.toString(shape));
        }
        return new StridedView(base, List.copyOf(ops), view, positions);
    }

    /** The whole of a fresh contiguous tensor. */
    static StridedView contiguous(DType dtype, long... shape) {
        Tensor t = Tensor.allocate(dtype, shape);
        return new StridedView(t, List.of(), t, NaiveTensor.iota(shape));
    }

    /** A fresh tensor of {@code baseShape} seen through {@code ops}. */
    static StridedView of(DType dtype, long[] baseShape, ViewOp... ops) {
        Tensor base = Tensor.allocate(dtype, baseShape);
        List<ViewOp> list = List.of(ops);
        return new StridedView(base, list, ViewOp.applyAll(list, base), ViewOp.applyAll(list, NaiveTensor.iota(baseShape)));
    }
}
