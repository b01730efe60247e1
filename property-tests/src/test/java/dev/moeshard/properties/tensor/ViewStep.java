package dev.moeshard.properties.tensor;

import dev.moeshard.properties.harness.Gen;
import dev.moeshard.tensor.Tensor;
import java.util.Arrays;
import java.util.function.Function;

/**
 * One view operation, drawn as four small numbers and read against the shape it meets: the kind picks the operation,
 * the other numbers pick dimensions, indices and sizes modulo what the shape allows. Drawing numbers rather than
 * operations keeps a chain drawable up front, before any shape is known, and every chain valid.
 */
record ViewStep(int kind, int a, int b, int c) {
    static final int KINDS = 11;
    /** Expansion stops here, so that a chain stays cheap to check element by element. */
    private static final long MAX_ELEMENTS = 4096;
    private static final int MAX_RANK = 6;

    static ViewStep random(Gen gen) {
        return new ViewStep(gen.between(0, KINDS - 1), gen.between(0, 1000), gen.between(0, 1000), gen.between(0, 1000));
    }

    /** What the step does to both sides; {@code viewMustFail} when no strides can express the model's result. */
    record Applied(String name, Function<Tensor, Tensor> onTensor, PositionModel model, boolean viewMustFail) {}

    /** The step as read against {@code m}, or null when it does not apply to that shape (it is then skipped). */
    Applied readAgainst(PositionModel m) {
        long[] sizes = m.sizes();
        int rank = sizes.length;
        int d = rank == 0 ? 0 : a % rank;
        switch (kind) {
            case 0 -> {
                if (rank == 0 || sizes[d] == 0) {
                    return null;
                }
                long i = b % sizes[d];
                return new Applied("select(" + d + ", " + i + ")", t -> t.select(d, i), m.select(d, i), false);
            }
            case 1 -> {
                if (rank == 0) {
                    return null;
                }
                long start = b % (sizes[d] + 1);
                long length = c % (sizes[d] - start + 1);
                return new Applied("narrow(" + d + ", " + start + ", " + length + ")", t -> t.narrow(d, start, length),
                        m.slice(d, start, start + length, 1), false);
            }
            case 2 -> {
                if (rank == 0) {
                    return null;
                }
                long start = b % (sizes[d] + 1);
                long end = start + c % (sizes[d] - start + 1);
                long step = 1 + (a / 7) % 3;
                return new Applied("slice(" + d + ", " + start + ", " + end + ", " + step + ")",
                        t -> t.slice(d, start, end, step), m.slice(d, start, end, step), false);
            }
            case 3 -> {
                if (rank == 0) {
                    return null;
                }
                int e = b % rank;
                int[] order = identity(rank);
                order[d] = e;
                order[e] = d;
                // Negative dimensions count from the end; use them half the time.
                int d0 = c % 2 == 0 ? d : d - rank;
                return new Applied("transpose(" + d0 + ", " + e + ")", t -> t.transpose(d0, e), m.permute(order), false);
            }
            case 4 -> {
                int[] order = identity(rank);
                int seed = b;
                for (int i = rank - 1; i > 0; i--) {
                    int j = seed % (i + 1);
                    seed = seed / (i + 1) + c;
                    int tmp = order[i];
                    order[i] = order[j];
                    order[j] = tmp;
                }
                return new Applied("permute" + Arrays.toString(order), t -> t.permute(order), m.permute(order), false);
            }
            case 5, 6 -> {
                long[] target = newShape(sizes);
                if (target == null) {
                    return null;
                }
                long[] asked = target.clone();
                if (c % 3 == 0 && asked.length > 0) {
                    asked[c % asked.length] = -1; // the inferred size, where it can be inferred
                    if (Shape.numel(target) == 0) {
                        asked = target.clone(); // -1 is ambiguous for zero elements
                    }
                }
                long[] request = asked;
                PositionModel reshaped = m.reshape(target);
                if (kind == 5) {
                    return new Applied("view" + Arrays.toString(request), t -> t.view(request), reshaped,
                            !reshaped.hasStrides());
                }
                // reshape is a view exactly when view would be one, else a copy.
                return new Applied("reshape" + Arrays.toString(request), t -> t.reshape(request),
                        reshaped.hasStrides() ? reshaped : reshaped.copied(), false);
            }
            case 7 -> {
                if (rank >= MAX_RANK) {
                    return null;
                }
                int at = b % (rank + 1);
                return new Applied("unsqueeze(" + at + ")", t -> t.unsqueeze(at), m.unsqueeze(at), false);
            }
            case 8 -> {
                return new Applied("squeeze()", Tensor::squeeze, m.squeezeAll(), false);
            }
            case 9 -> {
                for (int k = 0; k < rank; k++) {
                    int dim = (d + k) % rank;
                    if (sizes[dim] == 1) {
                        long[] squeezedSizes = Shape.remove(sizes, dim);
                        return new Applied("squeeze(" + dim + ")", t -> t.squeeze(dim),
                                m.reshape(squeezedSizes), false);
                    }
                }
                return null;
            }
            default -> {
                int lead = rank < MAX_RANK ? c % 2 : 0;
                long[] target = new long[rank + lead];
                long[] asked = new long[rank + lead];
                for (int i = 0; i < lead; i++) {
                    target[i] = asked[i] = 1 + b % 3;
                }
                for (int k = 0; k < rank; k++) {
                    boolean grow = sizes[k] == 1 && (b >> k) % 2 == 1;
                    target[lead + k] = grow ? 1 + (b + k) % 3 : sizes[k];
                    asked[lead + k] = grow || (c >> k) % 2 == 0 ? target[lead + k] : -1;
                }
                if (Shape.numel(target) > MAX_ELEMENTS) {
                    return null;
                }
                return new Applied("expand" + Arrays.toString(asked), t -> t.expand(asked), m.expand(target), false);
            }
        }
    }

    /** A shape with the same element count: two neighbouring dimensions merged, or one split in two. */
    private long[] newShape(long[] sizes) {
        int rank = sizes.length;
        if (b % 2 == 0 && rank >= 2) {
            int d = a % (rank - 1);
            long[] out = Shape.remove(sizes, d + 1);
            out[d] = sizes[d] * sizes[d + 1];
            return out;
        }
        if (rank == 0 || rank >= MAX_RANK) {
            return rank == 0 ? new long[] {1} : null;
        }
        int d = a % rank;
        long n = sizes[d];
        long f = 1 + c % Math.max(1, n);
        if (n == 0) {
            f = 1 + c % 3; // any split of an empty dimension works: [0] → [f, 0]
            long[] out = Shape.insert(sizes, d, f);
            out[d + 1] = 0;
            return out;
        }
        while (n % f != 0) {
            f--;
        }
        long[] out = Shape.insert(sizes, d, f);
        out[d + 1] = n / f;
        return out;
    }

    private static int[] identity(int n) {
        int[] o = new int[n];
        for (int i = 0; i < n; i++) {
            o[i] = i;
        }
        return o;
    }
}
