package dev.moeshard.tensor.copy;

import dev.moeshard.tensor.Shapes;
import dev.moeshard.tensor.Tensor;
import java.util.Arrays;

/**
 * What a copy between two same-shape strided tensors reduces to, computed before any byte moves.
 *
 * <p>Normalisation: size-1 dimensions are dropped (their strides never matter), the rest are ordered by destination
 * stride, largest first, so that the innermost loop writes the destination in address order, and neighbours that are
 * contiguous in both tensors are merged into one. A contiguous-to-contiguous copy of any shape thus becomes a single
 * run, and {@code gu[e, :, 0:I] <- gate_e^T} becomes a batch of 2-d transposes.
 *
 * <p>The innermost dimension then decides the kernel:
 * <ul>
 *   <li>{@link Kind#RUN}: unit stride in both tensors; rows of bytes moved in bulk;</li>
 *   <li>{@link Kind#TRANSPOSE}: unit stride in the destination, while another dimension has unit stride in the
 *       source: the two become a 2-d tile transpose, so both sides are read and written a cache line at a time;</li>
 *   <li>{@link Kind#GATHER}: anything else, element by element along the innermost dimension.</li>
 * </ul>
 * All other dimensions are outer loops. Strides are kept in bytes from here on.
 */
public final class CopyPlan {
    /** The kernel family the innermost dimensions map to. */
    public enum Kind { EMPTY, RUN, TRANSPOSE, GATHER }

    private final Kind kind;
    private final int srcElementBytes;
    private final int dstElementBytes;
    private final long srcBase;
    private final long dstBase;
    /** Outer loop dimensions, outermost first: sizes and byte strides. */
    private final long[] outerSizes;
    private final long[] outerSrcStrides;
    private final long[] outerDstStrides;
    /** Inner extent: for RUN and GATHER the element count of the innermost dimension; for TRANSPOSE the columns. */
    private final long innerCount;
    private final long innerSrcStride;
    private final long innerDstStride;
    /** TRANSPOSE only: the dimension with unit source stride (the rows of the destination tile). */
    private final long rowCount;
    private final long rowSrcStride;
    private final long rowDstStride;

    private CopyPlan(Kind kind, int srcElementBytes, int dstElementBytes, long srcBase, long dstBase,
                     long[] outerSizes, long[] outerSrcStrides, long[] outerDstStrides,
                     long innerCount, long innerSrcStride, long innerDstStride,
                     long rowCount, long rowSrcStride, long rowDstStride) {
        this.kind = kind;
        this.srcElementBytes = srcElementBytes;
        this.dstElementBytes = dstElementBytes;
        this.srcBase = srcBase;
        this.dstBase = dstBase;
        this.outerSizes = outerSizes;
        this.outerSrcStrides = outerSrcStrides;
        this.outerDstStrides = outerDstStrides;
        this.innerCount = innerCount;
        this.innerSrcStride = innerSrcStride;
        this.innerDstStride = innerDstStride;
        this.rowCount = rowCount;
        this.rowSrcStride = rowSrcStride;
        this.rowDstStride = rowDstStride;
    }

    /**
     * Plans {@code dst <- src}.
     *
     * @throws IllegalArgumentException if the shapes differ or the destination repeats an element (stride 0)
     */
    public static CopyPlan of(Tensor dst, Tensor src) {
        long[] sizes = dst.sizes();
        if (!Arrays.equals(sizes, src.sizes())) {
            throw new IllegalArgumentException("copy needs equal shapes: destination " + Shapes.format(sizes)
                    + ", source " + Shapes.format(src.sizes()));
        }
        int srcBytes = src.dtype().byteSize();
        int dstBytes = dst.dtype().byteSize();
        long srcBase = src.byteOffset();
        long dstBase = dst.byteOffset();
        if (Shapes.numel(sizes) == 0) {
            return new CopyPlan(Kind.EMPTY, srcBytes, dstBytes, srcBase, dstBase, new long[0], new long[0], new long[0],
                    0, 0, 0, 0, 0, 0);
        }
        long[] dstStrides = dst.strides();
        long[] srcStrides = src.strides();
        int[] dims = orderedDims(sizes, dstStrides, srcStrides);
        for (int d : dims) {
            if (dstStrides[d] == 0) {
                throw new IllegalArgumentException("destination of shape " + Shapes.format(sizes) + " with strides "
                        + Arrays.toString(dstStrides) + " repeats elements (stride 0 in dimension " + d
                        + "); it cannot be written to");
            }
        }
        // Merge neighbours contiguous in both tensors (outer stride == inner stride * inner size).
        long[] mSizes = new long[dims.length];
        long[] mSrc = new long[dims.length];
        long[] mDst = new long[dims.length];
        int n = 0;
        for (int d : dims) {
            if (n > 0 && mDst[n - 1] == dstStrides[d] * sizes[d] && mSrc[n - 1] == srcStrides[d] * sizes[d]) {
                mSizes[n - 1] *= sizes[d];
                mSrc[n - 1] = srcStrides[d];
                mDst[n - 1] = dstStrides[d];
            } else {
                mSizes[n] = sizes[d];
                mSrc[n] = srcStrides[d];
                mDst[n] = dstStrides[d];
                n++;
            }
        }
        if (n == 0) { // a single element
            return new CopyPlan(Kind.RUN, srcBytes, dstBytes, srcBase, dstBase, new long[0], new long[0], new long[0],
                    1, srcBytes, dstBytes, 0, 0, 0);
        }
        int inner = n - 1;
        if (mDst[inner] == 1 && mSrc[inner] == 1) {
            return withOuter(Kind.RUN, srcBytes, dstBytes, srcBase, dstBase, mSizes, mSrc, mDst, n, inner, -1);
        }
        if (mDst[inner] == 1) {
            for (int k = inner - 1; k >= 0; k--) {
                if (mSrc[k] == 1) {
                    return withOuter(Kind.TRANSPOSE, srcBytes, dstBytes, srcBase, dstBase, mSizes, mSrc, mDst, n, inner, k);
                }
            }
        }
        return withOuter(Kind.GATHER, srcBytes, dstBytes, srcBase, dstBase, mSizes, mSrc, mDst, n, inner, -1);
    }

    /**
     * The dimensions of size other than 1, ordered by destination stride, largest first (ties: larger source stride
     * first). An insertion sort: plans are made per copy, often thousands per second, and have a handful of
     * dimensions.
     */
    private static int[] orderedDims(long[] sizes, long[] dstStrides, long[] srcStrides) {
        int[] dims = new int[sizes.length];
        int n = 0;
        for (int d = 0; d < sizes.length; d++) {
            if (sizes[d] != 1) {
                int at = n++;
                while (at > 0 && outerFirst(d, dims[at - 1], dstStrides, srcStrides)) {
                    dims[at] = dims[at - 1];
                    at--;
                }
                dims[at] = d;
            }
        }
        return Arrays.copyOf(dims, n);
    }

    private static boolean outerFirst(int a, int b, long[] dstStrides, long[] srcStrides) {
        return dstStrides[a] > dstStrides[b] || (dstStrides[a] == dstStrides[b] && srcStrides[a] > srcStrides[b]);
    }

    private static CopyPlan withOuter(Kind kind, int srcBytes, int dstBytes, long srcBase, long dstBase,
                                      long[] sizes, long[] src, long[] dst, int n, int inner, int row) {
        int outerCount = n - 1 - (row >= 0 ? 1 : 0);
        long[] oSizes = new long[outerCount];
        long[] oSrc = new long[outerCount];
        long[] oDst = new long[outerCount];
        for (int d = 0, o = 0; d < n; d++) {
            if (d != inner && d != row) {
                oSizes[o] = sizes[d];
                oSrc[o] = src[d] * srcBytes;
                oDst[o] = dst[d] * dstBytes;
                o++;
            }
        }
        return new CopyPlan(kind, srcBytes, dstBytes, srcBase, dstBase, oSizes, oSrc, oDst,
                sizes[inner], src[inner] * srcBytes, dst[inner] * dstBytes,
                row >= 0 ? sizes[row] : 0, row >= 0 ? src[row] * srcBytes : 0, row >= 0 ? dst[row] * dstBytes : 0);
    }

    public Kind kind() { return kind; }

    public int srcElementBytes() { return srcElementBytes; }

    public int dstElementBytes() { return dstElementBytes; }

    public long srcBase() { return srcBase; }

    public long dstBase() { return dstBase; }

    /** Number of outer loop dimensions. */
    public int outerRank() { return outerSizes.length; }

    public long outerSize(int d) { return outerSizes[d]; }

    public long outerSrcStride(int d) { return outerSrcStrides[d]; }

    public long outerDstStride(int d) { return outerDstStrides[d]; }

    /** Product of the outer sizes: how many inner blocks the copy has. */
    public long outerCount() { return Shapes.numel(outerSizes); }

    /** Elements along the innermost dimension (for TRANSPOSE: the destination tile's columns). */
    public long innerCount() { return innerCount; }

    public long innerSrcStride() { return innerSrcStride; }

    public long innerDstStride() { return innerDstStride; }

    /** TRANSPOSE: the destination tile's rows, which are contiguous in the source. */
    public long rowCount() { return rowCount; }

    public long rowSrcStride() { return rowSrcStride; }

    public long rowDstStride() { return rowDstStride; }

    /** Elements in one inner block. */
    public long blockElements() {
        return kind == Kind.TRANSPOSE ? innerCount * rowCount : innerCount;
    }

    @Override
    public String toString() {
        return "CopyPlan(" + kind + ", outer " + Arrays.toString(outerSizes) + ", inner " + innerCount
                + (kind == Kind.TRANSPOSE ? " x rows " + rowCount : "") + ")";
    }
}
