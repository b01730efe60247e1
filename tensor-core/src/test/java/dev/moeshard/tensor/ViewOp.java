package dev.moeshard.tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * One view operation, applicable both to a {@link Tensor} (the code under test) and to a {@link NaiveTensor} (the
 * reference), so that a random chain of them can be replayed on both and printed when a test fails.
 */
sealed interface ViewOp {
    Tensor apply(Tensor t);

    NaiveTensor apply(NaiveTensor n);

    record Select(int dim, long index) implements ViewOp {
        public Tensor apply(Tensor t) { return t.select(dim, index); }
        public NaiveTensor apply(NaiveTensor n) { return n.select(dim, index); }
        @Override public String toString() { return "select(" + dim + ", " + index + ")"; }
    }

    record Narrow(int dim, long start, long length) implements ViewOp {
        public Tensor apply(Tensor t) { return t.narrow(dim, start, length); }
        public NaiveTensor apply(NaiveTensor n) { return n.narrow(dim, start, length); }
        @Override public String toString() { return "narrow(" + dim + ", " + start + ", " + length + ")"; }
    }

    record Slice(int dim, long start, long end, long step) implements ViewOp {
        public Tensor apply(Tensor t) { return t.slice(dim, start, end, step); }
        public NaiveTensor apply(NaiveTensor n) { return n.slice(dim, start, end, step); }
        @Override public String toString() { return "slice(" + dim + ", " + start + ", " + end + ", " + step + ")"; }
    }

    record Transpose(int dim0, int dim1) implements ViewOp {
        public Tensor apply(Tensor t) { return t.transpose(dim0, dim1); }
        public NaiveTensor apply(NaiveTensor n) { return n.transpose(dim0, dim1); }
        @Override public String toString() { return "transpose(" + dim0 + ", " + dim1 + ")"; }
    }

    record Permute(int[] order) implements ViewOp {
        public Tensor apply(Tensor t) { return t.permute(order); }
        public NaiveTensor apply(NaiveTensor n) { return n.permute(order); }
        @Override public String toString() { return "permute" + Arrays.toString(order); }
    }

    /** {@link Tensor#view}: the chain test decides separately whether it must succeed. */
    record View(long[] shape) implements ViewOp {
        public Tensor apply(Tensor t) { return t.view(shape); }
        public NaiveTensor apply(NaiveTensor n) { return n.reshape(resolve(shape, n.numel())); }
        @Override public String toString() { return "view" + Arrays.toString(shape); }
    }

    /** {@link Tensor#reshape}: a view when one exists, else a copy. */
    record Reshape(long[] shape) implements ViewOp {
        public Tensor apply(Tensor t) { return t.reshape(shape); }
        public NaiveTensor apply(NaiveTensor n) { return n.reshape(resolve(shape, n.numel())); }
        @Override public String toString() { return "reshape" + Arrays.toString(shape); }
    }

    record Unsqueeze(int dim) implements ViewOp {
        public Tensor apply(Tensor t) { return t.unsqueeze(dim); }
        public NaiveTensor apply(NaiveTensor n) { return n.unsqueeze(dim); }
        @Override public String toString() { return "unsqueeze(" + dim + ")"; }
    }

    record SqueezeAll() implements ViewOp {
        public Tensor apply(Tensor t) { return t.squeeze(); }
        public NaiveTensor apply(NaiveTensor n) { return n.squeeze(); }
        @Override public String toString() { return "squeeze()"; }
    }

    record Squeeze(int dim) implements ViewOp {
        public Tensor apply(Tensor t) { return t.squeeze(dim); }
        public NaiveTensor apply(NaiveTensor n) { return n.squeeze(dim); }
        @Override public String toString() { return "squeeze(" + dim + ")"; }
    }

    record Expand(long[] sizes) implements ViewOp {
        public Tensor apply(Tensor t) { return t.expand(sizes); }
        public NaiveTensor apply(NaiveTensor n) { return n.expand(sizes); }
        @Override public String toString() { return "expand" + Arrays.toString(sizes); }
    }

    /** Applies {@code ops} in order. */
    static Tensor applyAll(List<ViewOp> ops, Tensor t) {
        for (ViewOp op : ops) {
            t = op.apply(t);
        }
        return t;
    }

    static NaiveTensor applyAll(List<ViewOp> ops, NaiveTensor n) {
        for (ViewOp op : ops) {
            n = op.apply(n);
        }
        return n;
    }

    /** {@code shape} with its -1 (if any) replaced by what makes {@code numel} elements. */
    static long[] resolve(long[] shape, long numel) {
        long known = 1;
        int inferred = -1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == -1) {
                inferred = i;
            } else {
                known *= shape[i];
            }
        }
        long[] out = shape.clone();
        if (inferred >= 0) {
            out[inferred] = numel / known;
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------------ random ops

    /**
     * A random operation that is valid for a tensor of {@code shape} ({@link View} targets have the right element
     * count but may have no stride-compatible view). {@link Expand} is only chosen when the result stays within
     * {@code maxNumel} elements, and only when {@code allowExpand}; negative dimensions are used at times.
     */
    static ViewOp random(SplittableRandom r, long[] shape, boolean allowExpand, long maxNumel) {
        int rank = shape.length;
        List<Integer> nonEmptyDims = new ArrayList<>();
        List<Integer> unitDims = new ArrayList<>();
        for (int d = 0; d < rank; d++) {
            if (shape[d] > 0) {
                nonEmptyDims.add(d);
            }
            if (shape[d] == 1) {
                unitDims.add(d);
            }
        }
        while (true) {
            switch (r.nextInt(12)) {
                case 0 -> {
                    if (!nonEmptyDims.isEmpty()) {
                        int d = nonEmptyDims.get(r.nextInt(nonEmptyDims.size()));
                        return new Select(maybeNegative(r, d, rank), r.nextLong(shape[d]));
                    }
                }
                case 1 -> {
                    if (rank > 0) {
                        int d = r.nextInt(rank);
                        long start = r.nextLong(shape[d] + 1);
                        return new Narrow(maybeNegative(r, d, rank), start, r.nextLong(shape[d] - start + 1));
                    }
                }
                case 2, 3 -> {
                    if (rank > 0) {
                        int d = r.nextInt(rank);
                        long start = r.nextLong(shape[d] + 1);
                        long end = start + r.nextLong(shape[d] - start + 1);
                        return new Slice(maybeNegative(r, d, rank), start, end, 1 + r.nextInt(4));
                    }
                }
                case 4, 5 -> {
                    if (rank > 0) {
                        int a = r.nextInt(rank);
                        int b = r.nextInt(rank);
                        return new Transpose(maybeNegative(r, a, rank), maybeNegative(r, b, rank));
                    }
                }
                case 6 -> {
                    int[] order = new int[rank];
                    for (int i = 0; i < rank; i++) {
                        order[i] = i;
                    }
                    for (int i = rank - 1; i > 0; i--) {
                        int j = r.nextInt(i + 1);
                        int tmp = order[i];
                        order[i] = order[j];
                        order[j] = tmp;
                    }
                    return new Permute(order);
                }
                case 7, 8 -> {
                    long[] target = randomReshapeTarget(r, shape);
                    return r.nextInt(3) == 0 ? new Reshape(target) : new View(target);
                }
                case 9 -> {
                    if (rank < 6) {
                        return new Unsqueeze(r.nextInt(rank + 1));
                    }
                }
                case 10 -> {
                    if (!unitDims.isEmpty() && r.nextBoolean()) {
                        int d = unitDims.get(r.nextInt(unitDims.size()));
                        return new Squeeze(maybeNegative(r, d, rank));
                    }
                    return new SqueezeAll();
                }
                default -> {
                    if (allowExpand) {
                        ViewOp e = randomExpand(r, shape, maxNumel);
                        if (e != null) {
                            return e;
                        }
                    }
                }
            }
        }
    }

    private static ViewOp randomExpand(SplittableRandom r, long[] shape, long maxNumel) {
        int lead = shape.length < 5 && r.nextInt(3) == 0 ? 1 : 0;
        long[] sizes = new long[shape.length + lead];
        long[] result = new long[sizes.length];
        for (int i = 0; i < sizes.length; i++) {
            int d = i - lead;
            if (d < 0) {
                sizes[i] = r.nextInt(4);
                result[i] = sizes[i];
            } else if (shape[d] == 1) {
                sizes[i] = r.nextInt(5);
                result[i] = sizes[i];
            } else {
                sizes[i] = r.nextBoolean() ? -1 : shape[d];
                result[i] = shape[d];
            }
        }
        return NaiveTensor.numelOf(result) <= maxNumel ? new Expand(sizes) : null;
    }

    /** A shape with the same element count: merged, split or regrouped dimensions, at times with a -1. */
    static long[] randomReshapeTarget(SplittableRandom r, long[] shape) {
        return reshapeTarget(r, shape, r.nextInt(5));
    }

    /** Like {@link #randomReshapeTarget} but always merging dimensions (merge, flatten or refactor): views that fail. */
    static long[] randomMergingTarget(SplittableRandom r, long[] shape) {
        return reshapeTarget(r, shape, new int[] {0, 0, 2, 4}[r.nextInt(4)]);
    }

    private static long[] reshapeTarget(SplittableRandom r, long[] shape, int kind) {
        long numel = NaiveTensor.numelOf(shape);
        long[] target;
        int rank = shape.length;
        switch (kind) {
            case 0 -> { // merge two adjacent dimensions
                if (rank < 2) {
                    target = new long[] {numel};
                } else {
                    int d = r.nextInt(rank - 1);
                    target = new long[rank - 1];
                    for (int i = 0, k = 0; i < rank; i++) {
                        if (i == d) {
                            target[k++] = shape[i] * shape[i + 1];
                            i++;
                        } else {
                            target[k++] = shape[i];
                        }
                    }
                }
            }
            case 1 -> { // split one dimension by one of its divisors
                if (rank == 0) {
                    target = new long[] {1, 1};
                } else {
                    int d = r.nextInt(rank);
                    long a = randomDivisor(r, shape[d]);
                    target = new long[rank + 1];
                    for (int i = 0, k = 0; i < rank; i++) {
                        if (i == d) {
                            target[k++] = a;
                            target[k++] = a == 0 ? r.nextInt(3) : shape[d] / a;
                        } else {
                            target[k++] = shape[i];
                        }
                    }
                }
            }
            case 2 -> target = new long[] {numel}; // flatten
            case 3 -> { // insert a 1
                target = new long[rank + 1];
                int at = r.nextInt(rank + 1);
                for (int i = 0, k = 0; i <= rank; i++) {
                    target[i] = i == at ? 1 : shape[k++];
                }
            }
            default -> { // any factorization
                if (numel == 0) {
                    target = new long[1 + r.nextInt(3)];
                    for (int i = 0; i < target.length; i++) {
                        target[i] = r.nextInt(4);
                    }
                    target[r.nextInt(target.length)] = 0;
                } else {
                    List<Long> factors = new ArrayList<>();
                    long left = numel;
                    int parts = r.nextInt(4);
                    for (int i = 0; i < parts; i++) {
                        long f = randomDivisor(r, left);
                        factors.add(f);
                        left /= f;
                    }
                    factors.add(left);
                    target = factors.stream().mapToLong(Long::longValue).toArray();
                }
            }
        }
        if (numel > 0 && target.length > 0 && r.nextInt(4) == 0) {
            target[r.nextInt(target.length)] = -1;
        }
        return target;
    }

    private static long randomDivisor(SplittableRandom r, long n) {
        if (n <= 1) {
            return n;
        }
        List<Long> divisors = new ArrayList<>();
        for (long k = 1; k <= n; k++) {
            if (n % k == 0) {
                divisors.add(k);
            }
        }
        return divisors.get(r.nextInt(divisors.size()));
    }

    private static int maybeNegative(SplittableRandom r, int dim, int rank) {
        return r.nextInt(4) == 0 ? dim - rank : dim;
    }
}
