package dev.moeshard.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Each view on its own, exhaustively on small shapes, for every element width; and the cases named in the design. */
class TensorViewTest {

    static Stream<DType> dtypes() {
        return TensorViewChainTest.dtypes();
    }

    /** Applies {@code op} to a random-filled tensor of {@code shape} and to the naive model, and compares. */
    private static Tensor check(DType dtype, long[] shape, ViewOp... ops) {
        Tensor base = Tensor.allocate(dtype, shape);
        NaiveTensor values = RandomBits.fill(base, 42 + shape.length);
        List<ViewOp> chain = List.of(ops);
        Tensor t = ViewOp.applyAll(chain, base);
        Supplier<String> context = () -> dtype + Arrays.toString(shape) + " " + chain;
        TensorAssert.assertBits(ViewOp.applyAll(chain, values), t, context);
        TensorAssert.assertPositions(ViewOp.applyAll(chain, NaiveTensor.iota(shape)), t, context);
        assertSame(base.storage(), t.storage(), context);
        return t;
    }

    @ParameterizedTest
    @MethodSource("dtypes")
    void everySingleViewOfA3dTensor(DType dtype) {
        long[] shape = {3, 4, 5};
        for (int d = -3; d < 3; d++) {
            int dim = d < 0 ? d + 3 : d;
            for (long i = 0; i < shape[dim]; i++) {
                check(dtype, shape, new ViewOp.Select(d, i));
            }
            for (long start = 0; start <= shape[dim]; start++) {
                for (long end = start; end <= shape[dim]; end++) {
                    check(dtype, shape, new ViewOp.Narrow(d, start, end - start));
                    for (long step = 1; step <= shape[dim] + 1; step++) {
                        check(dtype, shape, new ViewOp.Slice(d, start, end, step));
                    }
                }
            }
            for (int e = -3; e < 3; e++) {
                check(dtype, shape, new ViewOp.Transpose(d, e));
            }
        }
        for (int[] order : List.of(new int[] {0, 1, 2}, new int[] {0, 2, 1}, new int[] {1, 0, 2}, new int[] {1, 2, 0},
                new int[] {2, 0, 1}, new int[] {2, 1, 0}, new int[] {-1, 0, -2})) {
            check(dtype, shape, new ViewOp.Permute(order));
        }
        for (int d = 0; d <= 3; d++) {
            check(dtype, shape, new ViewOp.Unsqueeze(d));
        }
        check(dtype, shape, new ViewOp.Unsqueeze(-1));
        check(dtype, new long[] {1, 3, 1, 5, 1}, new ViewOp.SqueezeAll());
        check(dtype, new long[] {1, 3, 1, 5, 1}, new ViewOp.Squeeze(2));
        check(dtype, new long[] {1, 3, 1, 5, 1}, new ViewOp.Squeeze(-1));
        check(dtype, new long[] {3, 1, 5}, new ViewOp.Expand(new long[] {2, 3, 4, -1}));
        check(dtype, shape, new ViewOp.Expand(new long[] {2, -1, 4, 5}));
    }

    @ParameterizedTest
    @MethodSource("dtypes")
    void zeroDimensionalTensors(DType dtype) {
        Tensor scalar = check(dtype, new long[] {});
        assertEquals(0, scalar.dim());
        assertEquals(1, scalar.numel());
        assertTrue(scalar.isContiguous());
        assertEquals(dtype.byteSize(), scalar.segment().byteSize());
        check(dtype, new long[] {}, new ViewOp.View(new long[] {1, 1}));
        check(dtype, new long[] {}, new ViewOp.View(new long[] {-1}));
        check(dtype, new long[] {}, new ViewOp.Unsqueeze(0), new ViewOp.Unsqueeze(-1));
        check(dtype, new long[] {}, new ViewOp.SqueezeAll());
        check(dtype, new long[] {}, new ViewOp.Permute(new int[0]));
        Tensor expanded = check(dtype, new long[] {}, new ViewOp.Expand(new long[] {3, 2}));
        assertArrayEquals(new long[] {0, 0}, expanded.strides());
        // Down to 0-d by select, and back.
        Tensor picked = check(dtype, new long[] {4, 3}, new ViewOp.Select(0, 2), new ViewOp.Select(0, 1));
        assertEquals(0, picked.dim());
        assertEquals(7, picked.offset());
        check(dtype, new long[] {4, 3}, new ViewOp.Select(1, 2), new ViewOp.Select(0, 3), new ViewOp.View(new long[] {1}));
    }

    @ParameterizedTest
    @MethodSource("dtypes")
    void emptyTensors(DType dtype) {
        long[] shape = {2, 0, 3};
        Tensor t = check(dtype, shape);
        assertEquals(0, t.numel());
        assertTrue(t.isContiguous());
        assertEquals(0, t.segment().byteSize());
        check(dtype, shape, new ViewOp.View(new long[] {0, 6}));
        check(dtype, shape, new ViewOp.View(new long[] {-1, 3}));
        check(dtype, shape, new ViewOp.Transpose(0, 2), new ViewOp.View(new long[] {0}));
        check(dtype, shape, new ViewOp.Select(2, 1), new ViewOp.Select(0, 1));
        check(dtype, shape, new ViewOp.Narrow(0, 1, 0), new ViewOp.Permute(new int[] {2, 1, 0}));
        check(dtype, new long[] {4, 5}, new ViewOp.Slice(1, 5, 5, 3), new ViewOp.Transpose(0, 1), new ViewOp.View(new long[] {2, 0, 2}));
        check(dtype, new long[] {1, 5}, new ViewOp.Expand(new long[] {0, 5}));
        Tensor empty = Tensor.allocate(dtype, 3, 0);
        assertThrows(IllegalArgumentException.class, () -> empty.view(-1, 0), "-1 next to a 0 is ambiguous");
    }

    @Test
    void viewOfATransposeThatMergesTheTransposedDimsFails() {
        Tensor t = Tensor.allocate(DType.F32, 2, 3);
        var e = assertThrows(IllegalArgumentException.class, () -> t.t().view(6));
        assertTrue(e.getMessage().contains("[3, 2]"), e.getMessage());
        assertTrue(e.getMessage().contains("reshape"), e.getMessage());

        Tensor u = Tensor.allocate(DType.F32, 4, 6, 5).transpose(0, 1); // [6, 4, 5], strides [5, 30, 1]
        assertThrows(IllegalArgumentException.class, () -> u.view(24, 5));
        assertThrows(IllegalArgumentException.class, () -> u.view(6, 20));
        assertThrows(IllegalArgumentException.class, () -> u.view(-1));
        assertArrayEquals(new long[] {5, 30, 1}, u.view(6, 4, 5).strides()); // not merging is fine
        check(DType.F32, new long[] {4, 6, 5}, new ViewOp.Transpose(0, 1), new ViewOp.View(new long[] {6, 4, 5, 1}));
        check(DType.F32, new long[] {4, 6, 5}, new ViewOp.Transpose(0, 1), new ViewOp.View(new long[] {6, 1, 4, 1, 5}));
        check(DType.F32, new long[] {4, 6, 5}, new ViewOp.Transpose(0, 1), new ViewOp.View(new long[] {3, 2, 4, 5}));
    }

    @Test
    void narrowThenViewOfTheOuterDimsWorks() {
        Tensor base = Tensor.allocate(DType.BF16, 4, 6, 5);
        Tensor narrowed = base.narrow(2, 1, 3); // [4, 6, 3], strides [30, 5, 1], offset 1
        Tensor merged = narrowed.view(24, 3);
        assertArrayEquals(new long[] {5, 1}, merged.strides());
        assertEquals(1, merged.offset());
        assertSame(base.storage(), merged.storage());
        assertThrows(IllegalArgumentException.class, () -> narrowed.view(4, 18));
        assertThrows(IllegalArgumentException.class, () -> narrowed.view(72));
        check(DType.BF16, new long[] {4, 6, 5}, new ViewOp.Narrow(2, 1, 3), new ViewOp.View(new long[] {24, 3}));
        check(DType.BF16, new long[] {4, 6, 5}, new ViewOp.Narrow(2, 1, 3), new ViewOp.View(new long[] {2, 12, 3}));
        // Narrowing the outermost dimension keeps everything contiguous: any view works.
        Tensor rows = base.narrow(0, 1, 2);
        assertTrue(rows.isContiguous());
        assertEquals(30, rows.view(60).offset());
        check(DType.BF16, new long[] {4, 6, 5}, new ViewOp.Narrow(0, 1, 2), new ViewOp.View(new long[] {-1}));
        check(DType.BF16, new long[] {4, 6, 5}, new ViewOp.Narrow(0, 1, 2), new ViewOp.View(new long[] {3, 4, 5}));
    }

    @ParameterizedTest
    @MethodSource("dtypes")
    void reshapeCopiesOnlyWhenViewFails(DType dtype) {
        Tensor base = Tensor.allocate(dtype, 3, 4, 5);
        NaiveTensor values = RandomBits.fill(base, 7);

        Tensor viewed = base.narrow(0, 1, 2).reshape(8, 5);
        assertSame(base.storage(), viewed.storage());
        TensorAssert.assertBits(values.narrow(0, 1, 2).reshape(8, 5), viewed, () -> "reshape as a view");

        Tensor transposed = base.transpose(1, 2);
        assertThrows(IllegalArgumentException.class, () -> transposed.view(3, 20));
        Tensor copied = transposed.reshape(3, 20);
        assertNotSame(base.storage(), copied.storage());
        assertTrue(copied.isContiguous());
        assertEquals(0, copied.offset());
        TensorAssert.assertBits(values.transpose(1, 2).reshape(3, 20), copied, () -> "reshape as a copy");
        Tensor copiedWithMinusOne = transposed.reshape(-1);
        TensorAssert.assertBits(values.transpose(1, 2).reshape(60), copiedWithMinusOne, () -> "reshape(-1)");

        Tensor expanded = Tensor.allocate(dtype, 3, 1).expand(3, 4);
        assertNotSame(expanded.storage(), expanded.reshape(12).storage());
        assertSame(expanded.storage(), expanded.reshape(3, 2, 2).storage());
        assertArrayEquals(new long[] {1, 0, 0}, expanded.view(3, 2, 2).strides());
    }

    @Test
    void expandGivesStrideZero() {
        Tensor col = Tensor.allocate(DType.F32, 3, 1);
        Tensor e = col.expand(3, 4);
        assertArrayEquals(new long[] {3, 4}, e.sizes());
        assertArrayEquals(new long[] {1, 0}, e.strides());
        assertFalse(e.isContiguous());
        Tensor lead = col.expand(2, -1, 5);
        assertArrayEquals(new long[] {2, 3, 5}, lead.sizes());
        assertArrayEquals(new long[] {0, 1, 0}, lead.strides());
        assertSame(col.storage(), lead.storage());
        Tensor bias = Tensor.allocate(DType.BF16, 7).expand(4, 7); // a [H] bias broadcast over [E, H]
        assertArrayEquals(new long[] {0, 1}, bias.strides());
        check(DType.I16, new long[] {1, 3}, new ViewOp.Expand(new long[] {4, 3}), new ViewOp.Transpose(0, 1));
        Tensor same = Tensor.allocate(DType.F32, 2, 3).expand(2, 3);
        assertArrayEquals(new long[] {3, 1}, same.strides());
    }

    @Test
    void stridesAndOffsetsOfEachView() {
        Tensor t = Tensor.allocate(DType.F32, 3, 4, 5);
        assertArrayEquals(new long[] {20, 5, 1}, t.strides());
        Tensor s = t.select(1, 2);
        assertArrayEquals(new long[] {20, 1}, s.strides());
        assertEquals(10, s.offset());
        Tensor sl = t.slice(2, 1, 5, 2);
        assertArrayEquals(new long[] {3, 4, 2}, sl.sizes());
        assertArrayEquals(new long[] {20, 5, 2}, sl.strides());
        assertEquals(1, sl.offset());
        assertArrayEquals(new long[] {1, 20, 5}, t.permute(2, 0, 1).strides());
        assertArrayEquals(new long[] {5, 20, 1}, t.transpose(0, 1).strides());
        assertArrayEquals(new long[] {20, 5, 1, 1}, t.unsqueeze(3).strides());
        assertArrayEquals(new long[] {5, 4}, Tensor.allocate(DType.F32, 4, 5).t().sizes());
        assertArrayEquals(new long[] {1, 5}, Tensor.allocate(DType.F32, 4, 5).t().strides());
        assertEquals(4 * 4, t.byteOffsetOf(0, 0, 4));
        assertEquals((2 * 20 + 3 * 5 + 4) * 4, t.byteOffsetOf(2, 3, 4));
    }

    @Test
    void negativeDimensionsCountFromTheEnd() {
        long[] shape = {2, 3, 4};
        for (DType dtype : List.of(DType.U8, DType.F64)) {
            Tensor base = Tensor.allocate(dtype, shape);
            RandomBits.fill(base, 3);
            assertArrayEquals(base.select(2, 1).strides(), base.select(-1, 1).strides());
            assertEquals(base.select(2, 1).offset(), base.select(-1, 1).offset());
            assertArrayEquals(base.transpose(0, 2).strides(), base.transpose(-3, -1).strides());
            assertArrayEquals(base.narrow(1, 1, 2).sizes(), base.narrow(-2, 1, 2).sizes());
            assertEquals(4, base.size(-1));
            assertEquals(12, base.stride(-3));
        }
    }

    @Test
    void sliceWithAHugeStepKeepsOneElement() {
        Tensor t = Tensor.allocate(DType.F32, 5, 3);
        Tensor s = t.slice(0, 1, 5, Long.MAX_VALUE);
        assertArrayEquals(new long[] {1, 3}, s.sizes());
        assertEquals(3, s.offset());
        Tensor s2 = t.slice(0, 0, 5, Long.MAX_VALUE - 1);
        assertArrayEquals(new long[] {1, 3}, s2.sizes());
        assertArrayEquals(new long[] {0, 3}, t.slice(0, 2, 2, Long.MAX_VALUE).sizes());
        assertArrayEquals(new long[] {3, 3}, t.slice(0, 0, 5, 2).sizes());
        assertArrayEquals(new long[] {2, 3}, t.slice(0, 1, 5, 2).sizes());
        check(DType.F32, new long[] {5, 3}, new ViewOp.Slice(0, 1, 5, Long.MAX_VALUE), new ViewOp.View(new long[] {3}));
    }

    @Test
    void stridedFactoryChecksBounds() {
        var storage = Arena.ofAuto().allocate(4 * 20);
        Tensor ok = Tensor.strided(storage, DType.F32, 2, new long[] {3, 3}, new long[] {6, 1});
        assertEquals((2 + 2 * 6 + 2) * 4L, ok.byteOffsetOf(2, 2));
        Tensor fits = Tensor.strided(storage, DType.F32, 19, new long[] {4}, new long[] {0});
        assertEquals(19 * 4L, fits.byteOffsetOf(3));
        Tensor last = Tensor.strided(storage, DType.F32, 5, new long[] {3, 3}, new long[] {6, 1});
        assertEquals(19 * 4L, last.byteOffsetOf(2, 2));
        var e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.strided(storage, DType.F32, 6, new long[] {3, 3}, new long[] {6, 1}));
        assertTrue(e.getMessage().contains("[3, 3]"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Tensor.strided(storage, DType.F32, 0, new long[] {3}, new long[] {-1}));
        assertThrows(IllegalArgumentException.class,
                () -> Tensor.strided(storage, DType.F32, -1, new long[] {3}, new long[] {1}));
        assertThrows(IllegalArgumentException.class,
                () -> Tensor.strided(storage, DType.F32, 0, new long[] {3}, new long[] {1, 1}));
        // An empty view needs no storage at all.
        Tensor.strided(storage, DType.F32, 1000, new long[] {0, 5}, new long[] {5, 1});
    }

    @Test
    void contiguousReturnsItselfOrACopy() {
        Tensor t = Tensor.allocate(DType.I32, 3, 4);
        NaiveTensor values = RandomBits.fill(t, 11);
        assertSame(t, t.contiguous());
        Tensor c = t.t().contiguous();
        assertNotSame(t.storage(), c.storage());
        assertTrue(c.isContiguous());
        TensorAssert.assertBits(values.transpose(0, 1), c, () -> "contiguous()");
        assertSame(t, t.to(DType.I32));
    }
}
