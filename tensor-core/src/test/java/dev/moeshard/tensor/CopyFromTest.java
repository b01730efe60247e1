package dev.moeshard.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.moeshard.tensor.copy.CopyEngine;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.LongUnaryOperator;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code dst.copyFrom(src)} against the naive model, for every element width: random pairs of same-shape strided
 * views, and the shapes the copy engine's kernels care about (contiguous runs, runs with gaps, 2-d transposes of
 * sizes on and off multiples of 8/16/32/64, batched transposes and the MoE merge into column slices, stride-0
 * sources, 0-d and empty tensors, large copies). Every check is byte-exact: the destination view holds exactly the
 * source's elements, every other byte of the destination's storage still holds its sentinel, and the source's
 * storage is untouched.
 */
abstract class CopyFromTest {

    /**
     * The engine under test: each subclass runs every case on one engine (scalar or SIMD kernels, on one thread or
     * with every copy split over several threads).
     */
    abstract CopyEngine engine();

    private void copy(Tensor dst, Tensor src) {
        engine().copy(dst, src);
    }

    static Stream<DType> dtypes() {
        return TensorViewChainTest.dtypes();
    }

    // ------------------------------------------------------------------------------------------------ the check

    /**
     * Copies {@code src} into {@code dst.view()} and checks that the view now holds {@code expected}, that no other
     * byte of the destination's storage changed, and that the source's storage did not change.
     */
    void copyAndCheck(StridedView dst, Tensor src, NaiveTensor expected, Supplier<String> context) {
        byte[] dstBefore = dst.base().storage().toArray(ValueLayout.JAVA_BYTE);
        byte[] srcBefore = src.storage().toArray(ValueLayout.JAVA_BYTE);
        copy(dst.view(), src);
        Supplier<String> where = () -> "dst " + dst + ", src " + src + "; " + context.get();
        TensorAssert.assertBits(expected, dst.view(), where);
        int w = dst.view().dtype().byteSize();
        long[] positions = dst.positions().data();
        long[] values = expected.data();
        byte[] expectedBytes = dstBefore.clone();
        for (int i = 0; i < positions.length; i++) {
            int at = Math.toIntExact(positions[i] * w);
            for (int b = 0; b < w; b++) {
                expectedBytes[at + b] = (byte) (values[i] >>> (8 * b));
            }
        }
        TensorAssert.assertBytes(expectedBytes, dst.base().storage(), () -> "outside or inside the view: " + where.get());
        if (src.storage().address() != dst.base().storage().address()) {
            TensorAssert.assertBytes(srcBefore, src.storage(), () -> "source changed: " + where.get());
        }
    }

    /** A same-dtype copy from a random-filled view into a sentinel-filled view, checked against the naive model. */
    void checkCopy(StridedView dst, StridedView src, long seed, Supplier<String> context) {
        NaiveTensor srcBase = RandomBits.fill(src.base(), seed);
        RandomBits.fillBytes(dst.base().storage(), ~seed);
        copyAndCheck(dst, src.view(), src.values(srcBase), context);
    }

    // ------------------------------------------------------------------------------------------------ random pairs

    @ParameterizedTest
    @MethodSource("dtypes")
    void randomStridedPairs(DType dtype) {
        for (int c = 0; c < 250; c++) {
            long seed = 0xC0B1_0000L + 1000L * dtype.ordinal() + c;
            SplittableRandom r = new SplittableRandom(seed);
            long[] shape = TensorViewChainTest.randomShape(r);
            StridedView src = StridedView.random(r, dtype, shape, true);
            StridedView dst = StridedView.random(r, dtype, shape, false);
            checkCopy(dst, src, seed, () -> "seed " + seed);
        }
    }

    // ------------------------------------------------------------------------------------------------ kernel shapes

    @ParameterizedTest
    @MethodSource("dtypes")
    void fullyContiguousBothSides(DType dtype) {
        for (long[] shape : List.of(new long[] {1}, new long[] {17}, new long[] {3, 5, 7}, new long[] {64, 64},
                new long[] {2, 1, 3, 1}, new long[] {1000})) {
            checkCopy(StridedView.contiguous(dtype, shape), StridedView.contiguous(dtype, shape), shape.length,
                    () -> "contiguous " + Arrays.toString(shape));
            // Contiguous, but not at offset 0 of the storage.
            long[] bigger = shape.clone();
            bigger[0] += 2;
            checkCopy(StridedView.of(dtype, bigger, new ViewOp.Narrow(0, 1, shape[0])),
                    StridedView.of(dtype, bigger, new ViewOp.Narrow(0, 2, shape[0])), 5,
                    () -> "contiguous at an offset " + Arrays.toString(shape));
        }
    }

    @ParameterizedTest
    @MethodSource("dtypes")
    void contiguousRunsWithGaps(DType dtype) {
        long[][] rowsColsPad = {{5, 7, 3}, {64, 64, 1}, {3, 1000, 24}, {1000, 3, 1}, {2, 1, 1}, {33, 17, 15}};
        for (long[] rcp : rowsColsPad) {
            long rows = rcp[0];
            long cols = rcp[1];
            long pad = rcp[2];
            Supplier<String> context = () -> "runs " + Arrays.toString(rcp);
            StridedView gappedDst = StridedView.of(dtype, new long[] {rows, cols + pad}, new ViewOp.Narrow(1, pad / 2, cols));
            StridedView gappedSrc = StridedView.of(dtype, new long[] {rows, cols + pad + 1}, new ViewOp.Narrow(1, 1, cols));
            checkCopy(gappedDst, StridedView.contiguous(dtype, rows, cols), 1, context);
            checkCopy(StridedView.contiguous(dtype, rows, cols), gappedSrc, 2, context);
            checkCopy(gappedDst, gappedSrc, 3, context);
            // 3-d: runs of two merged dimensions, then a gap.
            StridedView dst3 = StridedView.of(dtype, new long[] {3, rows + 1, cols}, new ViewOp.Narrow(1, 1, rows));
            StridedView src3 = StridedView.of(dtype, new long[] {4, rows, cols}, new ViewOp.Slice(0, 0, 4, 2),
                    new ViewOp.Expand(new long[] {-1, -1, -1}), new ViewOp.Unsqueeze(0), new ViewOp.Expand(new long[] {3, 2, rows, cols}),
                    new ViewOp.Select(1, 1));
            checkCopy(dst3, src3, 4, context);
        }
    }

    static final long[][] TRANSPOSE_SIZES = {
        {1, 1}, {7, 13}, {13, 7}, {8, 8}, {16, 16}, {32, 32}, {64, 32}, {32, 64}, {65, 129}, {300, 200},
        {31, 33}, {1, 100}, {100, 1}, {128, 256}, {17, 64},
        // Wider than two band tiles of the SIMD kernels (384 columns), ragged at both edges.
        {40, 900}, {900, 40},
        // A source over 1 MiB in the wider dtypes: the kernels' read-ahead path.
        {515, 1030},
    };

    @ParameterizedTest
    @MethodSource("dtypes")
    void twoDimensionalTransposes(DType dtype) {
        for (long[] rc : TRANSPOSE_SIZES) {
            long rows = rc[0];
            long cols = rc[1];
            Supplier<String> context = () -> "transpose " + rows + "x" + cols;
            // [R, C] <- [C, R]ᵀ, and the other way round.
            checkCopy(StridedView.contiguous(dtype, rows, cols),
                    StridedView.of(dtype, new long[] {cols, rows}, new ViewOp.Transpose(0, 1)), 1, context);
            checkCopy(StridedView.of(dtype, new long[] {cols, rows}, new ViewOp.Transpose(0, 1)),
                    StridedView.contiguous(dtype, rows, cols), 2, context);
            // Into a column slice of a wider tensor, from a row-narrowed source: the MoE merge on one expert.
            checkCopy(StridedView.of(dtype, new long[] {rows, 2 * cols + 3}, new ViewOp.Narrow(1, cols + 1, cols)),
                    StridedView.of(dtype, new long[] {cols + 2, rows}, new ViewOp.Narrow(0, 2, cols), new ViewOp.Transpose(0, 1)),
                    3, context);
        }
    }

    @ParameterizedTest
    @MethodSource("dtypes")
    void batchedTransposes(DType dtype) {
        for (long[] ehi : List.of(new long[] {3, 24, 10}, new long[] {5, 13, 7}, new long[] {2, 64, 32}, new long[] {1, 1, 1},
                new long[] {4, 33, 65})) {
            long e = ehi[0];
            long h = ehi[1];
            long i = ehi[2];
            Supplier<String> context = () -> "batched " + Arrays.toString(ehi);
            // [E, H, I] <- transpose(1, 2) of [E, I, H]  (down_projs from v5 down_proj, and back)
            checkCopy(StridedView.contiguous(dtype, e, h, i),
                    StridedView.of(dtype, new long[] {e, i, h}, new ViewOp.Transpose(1, 2)), 1, context);
            // [E, H, 2I] <- transpose of v5's fused [E, 2I, H], in one copy.
            checkCopy(StridedView.contiguous(dtype, e, h, 2 * i),
                    StridedView.of(dtype, new long[] {e, 2 * i, h}, new ViewOp.Permute(new int[] {0, 2, 1})), 2, context);
            // The inner transposes of a permuted batch: [H, E, I] <- [E, I, H] seen as permute(2, 0, 1).
            checkCopy(StridedView.contiguous(dtype, h, e, i),
                    StridedView.of(dtype, new long[] {e, i, h}, new ViewOp.Permute(new int[] {2, 0, 1})), 3, context);
        }
    }

    /**
     * The HF → grouped merge, expert by expert, as the converter does it: {@code gu[e, :, 0:I] ← gate_eᵀ},
     * {@code gu[e, :, I:2I] ← up_eᵀ}, {@code down[e] ← down_eᵀ}; then the GPT-OSS interleave and the split back.
     */
    @ParameterizedTest
    @MethodSource("dtypes")
    void moeMergeIntoGroupedLayout(DType dtype) {
        for (long[] ehi : List.of(new long[] {3, 24, 10}, new long[] {5, 13, 7}, new long[] {2, 64, 32}, new long[] {1, 1, 1})) {
            int e = (int) ehi[0];
            long h = ehi[1];
            long i = ehi[2];
            NaiveTensor[] gate = new NaiveTensor[e];
            NaiveTensor[] up = new NaiveTensor[e];
            NaiveTensor[] down = new NaiveTensor[e];
            Tensor[] gateT = new Tensor[e];
            Tensor[] upT = new Tensor[e];
            Tensor[] downT = new Tensor[e];
            for (int x = 0; x < e; x++) {
                gateT[x] = Tensor.allocate(dtype, i, h);
                upT[x] = Tensor.allocate(dtype, i, h);
                downT[x] = Tensor.allocate(dtype, h, i);
                gate[x] = RandomBits.fill(gateT[x], 100 + x);
                up[x] = RandomBits.fill(upT[x], 200 + x);
                down[x] = RandomBits.fill(downT[x], 300 + x);
            }
            Tensor gu = Tensor.allocate(dtype, e, h, 2 * i);
            Tensor downs = Tensor.allocate(dtype, e, i, h);
            RandomBits.fillBytes(gu.storage(), 1);
            RandomBits.fillBytes(downs.storage(), 2);
            for (int x = 0; x < e; x++) {
                int ex = x;
                Supplier<String> context = () -> "expert " + ex + " of " + Arrays.toString(ehi);
                StridedView gateDst = new StridedView(gu, List.of(), gu.select(0, x).narrow(1, 0, i),
                        NaiveTensor.iota(e, h, 2 * i).select(0, x).narrow(1, 0, i));
                copyAndCheck(gateDst, gateT[x].t(), gate[x].transpose(0, 1), context);
                StridedView upDst = new StridedView(gu, List.of(), gu.select(0, x).narrow(1, i, i),
                        NaiveTensor.iota(e, h, 2 * i).select(0, x).narrow(1, i, i));
                copyAndCheck(upDst, upT[x].t(), up[x].transpose(0, 1), context);
                StridedView downDst = new StridedView(downs, List.of(), downs.select(0, x),
                        NaiveTensor.iota(e, i, h).select(0, x));
                copyAndCheck(downDst, downT[x].t(), down[x].transpose(0, 1), context);
            }
            // The whole grouped tensors, index by index from the per-expert ones.
            long twoI = 2 * i;
            NaiveTensor expectedGu = NaiveTensor.generate(new long[] {e, h, twoI}, lin -> {
                int x = (int) (lin / (h * twoI));
                long row = lin / twoI % h;
                long col = lin % twoI;
                return col < i ? gate[x].get(col, row) : up[x].get(col - i, row);
            });
            NaiveTensor expectedDown = NaiveTensor.generate(new long[] {e, i, h}, lin -> {
                int x = (int) (lin / (i * h));
                return down[x].get(lin % h, lin / h % i);
            });
            TensorAssert.assertBits(expectedGu, gu, () -> "gate_and_up_projs " + Arrays.toString(ehi));
            TensorAssert.assertBits(expectedDown, downs, () -> "down_projs " + Arrays.toString(ehi));

            // GPT-OSS: gate = gu_oss[..., 0::2], up = gu_oss[..., 1::2], filled from the grouped tensor in two copies.
            Tensor oss = Tensor.allocate(dtype, e, h, twoI);
            RandomBits.fillBytes(oss.storage(), 3);
            NaiveTensor ossPositions = NaiveTensor.iota(e, h, twoI);
            copyAndCheck(new StridedView(oss, List.of(), oss.slice(2, 0, twoI, 2), ossPositions.slice(2, 0, twoI, 2)),
                    gu.narrow(2, 0, i), expectedGu.narrow(2, 0, i), () -> "GPT-OSS gate " + Arrays.toString(ehi));
            copyAndCheck(new StridedView(oss, List.of(), oss.slice(2, 1, twoI, 2), ossPositions.slice(2, 1, twoI, 2)),
                    gu.narrow(2, i, i), expectedGu.narrow(2, i, i), () -> "GPT-OSS up " + Arrays.toString(ehi));

            // And back to HF: gate_e <- gu[e, :, 0:I]ᵀ, down_e <- down[e]ᵀ.
            for (int x = 0; x < e; x++) {
                StridedView gateBack = StridedView.contiguous(dtype, i, h);
                RandomBits.fillBytes(gateBack.base().storage(), 4);
                copyAndCheck(gateBack, gu.select(0, x).narrow(1, 0, i).t(), gate[x], () -> "split gate");
                StridedView downBack = StridedView.contiguous(dtype, h, i);
                copyAndCheck(downBack, downs.select(0, x).t(), down[x], () -> "split down");
            }
        }
    }

    @ParameterizedTest
    @MethodSource("dtypes")
    void expandedSources(DType dtype) {
        // [R, C] <- a row repeated; <- a column repeated; <- a 0-d scalar everywhere; [E, H] <- an [H] bias.
        checkCopy(StridedView.contiguous(dtype, 7, 13), StridedView.of(dtype, new long[] {1, 13}, new ViewOp.Expand(new long[] {7, 13})),
                1, () -> "row expanded");
        checkCopy(StridedView.contiguous(dtype, 7, 13), StridedView.of(dtype, new long[] {7, 1}, new ViewOp.Expand(new long[] {-1, 13})),
                2, () -> "column expanded");
        checkCopy(StridedView.contiguous(dtype, 7, 13), StridedView.of(dtype, new long[] {}, new ViewOp.Expand(new long[] {7, 13})),
                3, () -> "scalar expanded");
        checkCopy(StridedView.contiguous(dtype, 8, 64), StridedView.of(dtype, new long[] {64}, new ViewOp.Expand(new long[] {8, 64})),
                4, () -> "bias expanded");
        // Expanded and transposed, into a strided destination.
        checkCopy(StridedView.of(dtype, new long[] {40, 9}, new ViewOp.Slice(0, 1, 40, 3), new ViewOp.Transpose(0, 1)),
                StridedView.of(dtype, new long[] {13, 1}, new ViewOp.Expand(new long[] {13, 9}), new ViewOp.Transpose(0, 1)),
                5, () -> "expanded and transposed");
        checkCopy(StridedView.contiguous(dtype, 3, 4, 5),
                StridedView.of(dtype, new long[] {1, 4, 1}, new ViewOp.Expand(new long[] {3, 4, 5})), 6, () -> "two expanded dims");
    }

    @ParameterizedTest
    @MethodSource("dtypes")
    void zeroDimensionalAndEmpty(DType dtype) {
        checkCopy(StridedView.contiguous(dtype), StridedView.contiguous(dtype), 1, () -> "0-d");
        checkCopy(StridedView.of(dtype, new long[] {3, 4}, new ViewOp.Select(0, 2), new ViewOp.Select(0, 1)),
                StridedView.of(dtype, new long[] {5}, new ViewOp.Select(0, 4)), 2, () -> "0-d selected");
        checkCopy(StridedView.contiguous(dtype, 0), StridedView.contiguous(dtype, 0), 3, () -> "[0]");
        checkCopy(StridedView.of(dtype, new long[] {4, 6, 5}, new ViewOp.Narrow(1, 2, 0), new ViewOp.Transpose(0, 2)),
                StridedView.contiguous(dtype, 5, 0, 4), 4, () -> "empty strided destination");
        checkCopy(StridedView.contiguous(dtype, 3, 0, 5),
                StridedView.of(dtype, new long[] {5, 3}, new ViewOp.Unsqueeze(1), new ViewOp.Expand(new long[] {5, 0, 3}),
                        new ViewOp.Transpose(0, 2)), 5, () -> "empty expanded source");
    }

    @Test
    void copyFromReturnsTheDestination() {
        Tensor src = Tensor.allocate(DType.I32, 4, 3);
        NaiveTensor values = RandomBits.fill(src, 9);
        Tensor dst = Tensor.allocate(DType.I32, 3, 4);
        assertSame(dst, dst.copyFrom(src.t()));
        TensorAssert.assertBits(values.transpose(0, 1), dst, () -> "copyFrom");
        Tensor copy = src.t().contiguousCopy();
        assertNotSame(src.storage(), copy.storage());
        TensorAssert.assertBits(values.transpose(0, 1), copy, () -> "contiguousCopy");
    }

    @Test
    void mismatchedShapesNameBothShapes() {
        for (long[][] pair : List.of(new long[][] {{2, 3}, {3, 2}}, new long[][] {{6}, {2, 3}}, new long[][] {{}, {1}},
                new long[][] {{0}, {0, 0}})) {
            Tensor dst = Tensor.allocate(DType.BF16, pair[0]);
            Tensor src = Tensor.allocate(DType.BF16, pair[1]);
            var e = assertThrows(IllegalArgumentException.class, () -> copy(dst, src));
            assertTrue(e.getMessage().contains(Arrays.toString(pair[0])), e.getMessage());
            assertTrue(e.getMessage().contains(Arrays.toString(pair[1])), e.getMessage());
        }
    }

    @Test
    void refusedConversionWritesNothing() {
        Tensor src = Tensor.allocate(DType.I32, 3, 5);
        RandomBits.fill(src, 1);
        Tensor dst = Tensor.allocate(DType.F32, 5, 3);
        byte[] before = RandomBits.fillBytes(dst.storage(), 2);
        assertThrows(UnsupportedOperationException.class, () -> copy(dst.t(), src));
        assertThrows(UnsupportedOperationException.class, () -> copy(Tensor.allocate(DType.I16, 4), Tensor.allocate(DType.BF16, 4)));
        TensorAssert.assertBytes(before, dst.storage(), () -> "a refused conversion must not write");
    }

    // ------------------------------------------------------------------------------------------------ conversions

    static Stream<DType[]> convertiblePairs() {
        List<DType> arithmetic = List.of(DType.F64, DType.F32, DType.F16, DType.BF16, DType.F8_E4M3, DType.F8_E5M2);
        return arithmetic.stream().flatMap(a -> arithmetic.stream().filter(b -> b != a).map(b -> new DType[] {a, b}));
    }

    /** F32 → BF16 view → F32 view: each element exactly FloatFormat's encode of the decoded source. */
    @Test
    void f32ToBf16AndBack() {
        convertThereAndBack(DType.F32, DType.BF16, 1);
        // to(dtype) is the same conversion into a new contiguous tensor.
        Tensor f32 = Tensor.allocate(DType.F32, 5, 7);
        NaiveTensor bits = RandomBits.fill(f32, 12);
        Tensor bf16 = f32.t().to(DType.BF16);
        TensorAssert.assertBits(bits.transpose(0, 1).map(b -> FloatFormat.require(DType.BF16).encode(
                FloatFormat.require(DType.F32).decode(b))), bf16, () -> "to(BF16)");
    }

    @ParameterizedTest
    @MethodSource("convertiblePairs")
    void everyConversionMatchesFloatFormat(DType from, DType to) {
        convertThereAndBack(from, to, 1000L * from.ordinal() + to.ordinal());
    }

    private void convertThereAndBack(DType from, DType to, long seed) {
        FloatFormat source = FloatFormat.require(from);
        FloatFormat target = FloatFormat.require(to);
        SplittableRandom r = new SplittableRandom(seed);
        for (long[] shape : List.of(new long[] {}, new long[] {0, 3}, new long[] {7, 13}, new long[] {3, 5, 17}, new long[] {300})) {
            for (int c = 0; c < 3; c++) {
                Supplier<String> context = () -> from + " -> " + to + " " + Arrays.toString(shape);
                StridedView src = StridedView.random(r, from, shape, true);
                RandomBits.fill(src.base(), r.nextLong());
                mixInSpecials(src.base());
                NaiveTensor srcValues = src.values(readFresh(src.base()));
                StridedView mid = StridedView.random(r, to, shape, false);
                RandomBits.fillBytes(mid.base().storage(), r.nextLong());
                NaiveTensor expectedMid = srcValues.map(bits -> target.encode(source.decode(bits)));
                copyAndCheck(mid, src.view(), expectedMid, context);
                StridedView back = StridedView.random(r, from, shape, false);
                RandomBits.fillBytes(back.base().storage(), r.nextLong());
                NaiveTensor expectedBack = expectedMid.map(bits -> source.encode(target.decode(bits)));
                copyAndCheck(back, mid.view(), expectedBack, () -> "back: " + context.get());
            }
        }
    }

    /** Rewrites one element in seven of a fresh tensor with zeros, infinities, NaNs, extremes or subnormals. */
    private void mixInSpecials(Tensor fresh) {
        DType dtype = fresh.dtype();
        FloatFormat f = FloatFormat.require(dtype);
        long sign = 1L << (dtype.bits() - 1);
        long[] specials = {0, sign, f.nanBits(), f.nanBits() | sign, f.encode(f.maxFinite()), f.encode(-f.maxFinite()),
                f.encode(Double.POSITIVE_INFINITY), f.encode(Double.NEGATIVE_INFINITY), 1, sign | 1,
                f.encode(1.0), f.encode(-1.5), f.encode(65504.0), f.encode(448.0), f.encode(3.0e38), f.encode(1e-40)};
        int w = dtype.byteSize();
        long[] bits = readFresh(fresh).data();
        for (int i = 0; i < bits.length; i++) {
            if (Long.remainderUnsigned(bits[i], 7) == 0) {
                long special = specials[(int) Long.remainderUnsigned(bits[i] >>> 3, specials.length)];
                ElementAccess.writeBits(fresh.storage(), (long) i * w, w, special);
            }
        }
    }

    /** The elements of a fresh (row-major, offset 0) tensor, read straight from its storage. */
    private NaiveTensor readFresh(Tensor fresh) {
        RandomBits.requireFresh(fresh);
        int w = fresh.dtype().byteSize();
        return NaiveTensor.generate(fresh.sizes(), i -> ElementAccess.readBits(fresh.storage(), i * w, w));
    }

    // ------------------------------------------------------------------------------------------------ large copies

    /** 2M elements, contiguous and transposed, checked element by element with index arithmetic. */
    @ParameterizedTest
    @MethodSource("largeDtypes")
    void largeCopies(DType dtype) {
        largeTranspose(dtype, 1, 1024, 2048);
        Tensor src = Tensor.allocate(dtype, 2L << 20);
        LongUnaryOperator pattern = RandomBits.fillLarge(src, 5);
        Tensor dst = Tensor.allocate(dtype, 2L << 20);
        copy(dst, src);
        int w = dtype.byteSize();
        for (long i = 0; i < dst.numel(); i++) {
            if (ElementAccess.readBits(dst.storage(), i * w, w) != pattern.applyAsLong(i)) {
                fail("element " + i + " of a contiguous 2M-element copy");
            }
        }
    }

    static Stream<DType> largeDtypes() {
        return Stream.of(DType.U8, DType.BF16, DType.F32, DType.F64);
    }

    /**
     * THE BIG ONE (8M elements, 16 MiB of BF16): [8, 1024, 1024] ← transpose(1, 2) of [8, 1024, 1024]; large enough
     * that a multi-threaded engine splits it over threads. About a second with the per-element engine.
     */
    @Test
    @Tag("large")
    void largeBatchedTransposeEightMillionElements() {
        largeTranspose(DType.BF16, 8, 1024, 1024);
    }

    /**
     * The merge's real shapes at their real strides: [2048, 768] ← transpose of [768, 2048] and the reverse. Their
     * row strides are powers of two (4096 bytes for BF16), which changes the order the SIMD kernel visits blocks in,
     * and the sources are over 1 MiB, which makes it read them ahead chunk by chunk.
     */
    @ParameterizedTest
    @MethodSource("largeDtypes")
    void powerOfTwoStridedTransposesBothWays(DType dtype) {
        largeTranspose(dtype, 1, 2048, 768);
        largeTranspose(dtype, 1, 768, 2048);
        largeTranspose(dtype, 2, 512, 520);
    }

    /** {@code dst[e, r, c] = src[e, c, r]} for a contiguous {@code [E, R, C]} destination. */
    private void largeTranspose(DType dtype, long e, long rows, long cols) {
        Tensor src = Tensor.allocate(dtype, e, cols, rows);
        LongUnaryOperator pattern = RandomBits.fillLarge(src, e * rows);
        Tensor dst = Tensor.allocate(dtype, e, rows, cols);
        copy(dst, src.transpose(1, 2));
        long[] idx = new long[3];
        for (idx[0] = 0; idx[0] < e; idx[0]++) {
            for (idx[1] = 0; idx[1] < rows; idx[1]++) {
                for (idx[2] = 0; idx[2] < cols; idx[2]++) {
                    long expected = pattern.applyAsLong((idx[0] * cols + idx[2]) * rows + idx[1]);
                    if (dst.getBits(idx) != expected) {
                        fail("element " + Arrays.toString(idx) + " of " + dst + " <- transpose: expected 0x"
                                + Long.toHexString(expected) + ", got 0x" + Long.toHexString(dst.getBits(idx)));
                    }
                }
            }
        }
        assertEquals(e * rows * cols, dst.numel());
        assertArrayEquals(new long[] {e, rows, cols}, dst.sizes());
    }
}
