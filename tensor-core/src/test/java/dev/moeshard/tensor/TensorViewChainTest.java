package dev.moeshard.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Random chains of 3 to 6 views (fixed seeds) on random shapes (0-d, empty and size-1 dimensions, odd sizes), for
 * every element width, replayed on {@link Tensor} and on {@link NaiveTensor}. After every step: same shape, same bits
 * at every index, every element at the storage position the naive model says, {@code isContiguous()} true exactly
 * when the positions are consecutive, and {@code view()} succeeding exactly when a brute-force search finds strides
 * for the new shape ({@code reshape()} copying exactly when it does not).
 */
class TensorViewChainTest {
    private static final int CASES_PER_DTYPE = 300;
    private static final long MAX_NUMEL = 4096;

    static Stream<DType> dtypes() {
        return Stream.of(DType.U8, DType.BF16, DType.I16, DType.F32, DType.I32, DType.F64, DType.I64);
    }

    @ParameterizedTest
    @MethodSource("dtypes")
    void randomViewChainsMatchTheNaiveModel(DType dtype) {
        int viewsThatWorked = 0;
        int viewsRefused = 0;
        for (int c = 0; c < CASES_PER_DTYPE; c++) {
            long seed = 0x5EED_0000L + 1000L * dtype.ordinal() + c;
            SplittableRandom r = new SplittableRandom(seed);
            long[] shape = randomShape(r);
            Tensor t = Tensor.allocate(dtype, shape);
            NaiveTensor values = RandomBits.fill(t, seed);
            NaiveTensor positions = NaiveTensor.iota(shape);
            List<String> chain = new ArrayList<>();
            chain.add("allocate(" + dtype + ", " + Arrays.toString(shape) + ")");
            int length = 3 + r.nextInt(4);
            for (int k = 0; k < length; k++) {
                // One step in three is a view(): after transposes, slices and expands it is often impossible.
                ViewOp op = k > 0 && r.nextInt(3) == 0
                        ? new ViewOp.View(ViewOp.randomMergingTarget(r, t.sizes()))
                        : ViewOp.random(r, t.sizes(), true, MAX_NUMEL);
                chain.add(op.toString());
                Supplier<String> context = () -> "seed " + seed + ", chain " + chain;
                long[] newShape = switch (op) {
                    case ViewOp.View v -> ViewOp.resolve(v.shape(), values.numel());
                    case ViewOp.Reshape v -> ViewOp.resolve(v.shape(), values.numel());
                    default -> null;
                };
                if (newShape != null) {
                    long[] naiveStrides = NaiveTensor.viewStrides(positions, newShape);
                    long[] asked = op instanceof ViewOp.View v ? v.shape() : ((ViewOp.Reshape) op).shape();
                    Tensor next;
                    if (naiveStrides == null) {
                        viewsRefused++;
                        if (op instanceof ViewOp.View) {
                            Tensor before = t;
                            var e = assertThrows(IllegalArgumentException.class, () -> before.view(asked),
                                    () -> "view must fail: no strides exist; " + context.get());
                            assertTrue(e.getMessage().contains(Shapes.format(t.sizes())), e.getMessage());
                            chain.set(chain.size() - 1, op + " refused, then reshape");
                        }
                        next = t.reshape(asked);
                        assertNotSame(t.storage(), next.storage(), () -> "reshape must copy; " + context.get());
                        assertTrue(next.isContiguous(), context);
                        positions = NaiveTensor.iota(newShape);
                    } else {
                        viewsThatWorked++;
                        Tensor before = t;
                        next = op instanceof ViewOp.View ? t.view(asked) : t.reshape(asked);
                        assertSame(before.storage(), next.storage(), () -> "must not copy; " + context.get());
                        positions = positions.reshape(newShape);
                    }
                    values = values.reshape(newShape);
                    t = next;
                } else {
                    t = op.apply(t);
                    values = op.apply(values);
                    positions = op.apply(positions);
                }
                TensorAssert.assertBits(values, t, context);
                TensorAssert.assertPositions(positions, t, context);
                checkContiguity(t, values, positions, context);
                for (long s : t.strides()) {
                    assertTrue(s >= 0, () -> "negative stride; " + context.get());
                }
            }
        }
        // The generator must exercise both outcomes of view(), or the test proves little.
        assertTrue(viewsThatWorked > 200, "views that worked: " + viewsThatWorked);
        assertTrue(viewsRefused > 10, "views refused: " + viewsRefused);
    }

    /**
     * Exactness of view() on its own, many more cases: random strided views (slices with steps, permutations,
     * selects, expands) of random shapes, each asked for several random new shapes; view() must succeed exactly when
     * brute force finds strides, and then place every element where the naive model says.
     */
    @ParameterizedTest
    @MethodSource("dtypes")
    void viewSucceedsExactlyWhenStridesExist(DType dtype) {
        int worked = 0;
        int refused = 0;
        for (int c = 0; c < 400; c++) {
            long seed = 0x71E3_0000L + 1000L * dtype.ordinal() + c;
            SplittableRandom r = new SplittableRandom(seed);
            long[] shape = new long[1 + r.nextInt(4)];
            for (int d = 0; d < shape.length; d++) {
                shape[d] = r.nextInt(25) == 0 ? 0 : 1 + r.nextInt(r.nextBoolean() ? 3 : 6);
            }
            StridedView sv = StridedView.random(r, dtype, shape, true);
            for (int k = 0; k < 6; k++) {
                long[] asked = r.nextBoolean() ? ViewOp.randomMergingTarget(r, shape) : ViewOp.randomReshapeTarget(r, shape);
                long[] target = ViewOp.resolve(asked, sv.positions().numel());
                long[] naiveStrides = NaiveTensor.viewStrides(sv.positions(), target);
                Supplier<String> context = () -> "seed " + seed + ", " + sv + ", view" + Arrays.toString(asked);
                if (naiveStrides == null) {
                    refused++;
                    var e = assertThrows(IllegalArgumentException.class, () -> sv.view().view(asked), context);
                    assertTrue(e.getMessage().contains(Shapes.format(shape)), e.getMessage());
                    assertTrue(e.getMessage().contains("reshape"), e.getMessage());
                    Tensor copy = sv.view().reshape(asked);
                    assertNotSame(sv.view().storage(), copy.storage(), context);
                } else {
                    worked++;
                    Tensor v = sv.view().view(asked);
                    TensorAssert.assertPositions(sv.positions().reshape(target), v, context);
                    Tensor same = sv.view().reshape(asked);
                    assertSame(sv.view().storage(), same.storage(), context);
                    TensorAssert.assertPositions(sv.positions().reshape(target), same, context);
                }
            }
        }
        assertTrue(worked > 500, "views that worked: " + worked);
        assertTrue(refused > 300, "views refused: " + refused);
    }

    /** isContiguous() exactly when the positions run consecutively; then segment() holds the values in order. */
    private static void checkContiguity(Tensor t, NaiveTensor values, NaiveTensor positions, Supplier<String> context) {
        long[] p = positions.data();
        boolean consecutive = true;
        for (int i = 1; i < p.length && consecutive; i++) {
            consecutive = p[i] == p[0] + i;
        }
        assertEquals(consecutive, t.isContiguous(), () -> "isContiguous() of " + t + "; " + context.get());
        if (consecutive) {
            var segment = t.segment();
            int w = t.dtype().byteSize();
            assertEquals(values.numel() * w, segment.byteSize(), context);
            long[] v = values.data();
            for (int i = 0; i < v.length; i++) {
                if (ElementAccess.readBits(segment, (long) i * w, w) != v[i]) {
                    fail("segment() element " + i + " differs; " + context.get());
                }
            }
            if (p.length > 0) {
                assertEquals(p[0] * w, segment.address() - t.storage().address(), context);
            }
        }
    }

    /** Rank 0 to 4; sizes mostly small and odd, with 0 and 1 often enough; at most MAX_NUMEL elements. */
    static long[] randomShape(SplittableRandom r) {
        while (true) {
            long[] shape = new long[r.nextInt(5)];
            for (int d = 0; d < shape.length; d++) {
                int pick = r.nextInt(20);
                shape[d] = pick == 0 ? 0 : pick < 5 ? 1 : pick < 17 ? 2 + r.nextInt(8) : 10 + r.nextInt(20);
            }
            if (NaiveTensor.numelOf(shape) <= MAX_NUMEL) {
                return shape;
            }
        }
    }

}
