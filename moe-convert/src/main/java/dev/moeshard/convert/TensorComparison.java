package dev.moeshard.convert;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

/**
 * Byte-exact comparison of two tensors of one dtype and shape, streamed: contiguous tensors are compared where they
 * lie (in the mapped files), a strided view (a transposed expert of a grouped tensor) is laid out a few MiB at a time
 * into a scratch buffer first, the same buffer for every comparison. Nothing is ever copied whole.
 */
final class TensorComparison {
    /** Strided tensors are compared in chunks of this many bytes along their first dimension (one row at least). */
    static final long CHUNK_BYTES = 4L << 20;

    private final CopyEngine engine;
    /** Reused from comparison to comparison: a fresh chunk each time would stay allocated until the collector ran. */
    private final ReusedScratch expectedScratch = new ReusedScratch();
    private final ReusedScratch readScratch = new ReusedScratch();
    private final ReusedScratch actualScratch = new ReusedScratch();

    TensorComparison(CopyEngine engine) {
        this.engine = engine;
    }

    /**
     * The row-major index of the first element whose bytes differ, or -1 when every byte is equal. Both tensors must
     * have the same dtype and shape.
     */
    long firstDifference(Tensor expected, Tensor actual) {
        if (expected.dtype() != actual.dtype() || !Arrays.equals(expected.sizes(), actual.sizes())) {
            throw new IllegalArgumentException("compare needs one dtype and shape: " + expected + " vs " + actual);
        }
        if (expected.numel() == 0) {
            return -1;
        }
        if ((expected.isContiguous() && actual.isContiguous()) || expected.dim() == 0) {
            return elementOf(expected.dtype(), expected.contiguous().segment().mismatch(actual.contiguous().segment()));
        }
        long rows = expected.size(0);
        long rowElements = expected.numel() / rows;
        long rowBytes = expected.dtype().storageBytes(rowElements);
        long chunkRows = Math.max(1, Math.min(rows, CHUNK_BYTES / Math.max(1, rowBytes)));
        long[] chunkSizes = expected.sizes();
        chunkSizes[0] = chunkRows;
        Tensor scratchExpected = expected.isContiguous() ? null : expectedScratch.tensor(expected.dtype(), chunkSizes);
        Tensor scratchActual = actual.isContiguous() ? null : actualScratch.tensor(actual.dtype(), chunkSizes);
        for (long row = 0; row < rows; row += chunkRows) {
            long n = Math.min(chunkRows, rows - row);
            MemorySegment a = laidOut(expected.narrow(0, row, n), scratchExpected, n);
            MemorySegment b = laidOut(actual.narrow(0, row, n), scratchActual, n);
            long at = a.mismatch(b);
            if (at >= 0) {
                return row * rowElements + elementOf(expected.dtype(), at);
            }
        }
        return -1;
    }

    private MemorySegment laidOut(Tensor part, Tensor scratch, long rows) {
        if (scratch == null) {
            return part.segment();
        }
        // A strided view of a mapped input is read from its file first, so that the vectorized copy never reads the
        // mapping (see SourceReads).
        List<Tensor> one = List.of(part);
        Tensor read = SourceReads.read(one, readScratch.tensor(DType.U8, Math.max(1, SourceReads.bytes(one))).segment())
                .getFirst();
        Tensor target = scratch.narrow(0, 0, rows);
        engine.copy(target, read);
        return target.segment();
    }

    private static long elementOf(DType dtype, long byteIndex) {
        if (byteIndex < 0) {
            return -1;
        }
        return dtype.isByteAligned() ? byteIndex / dtype.byteSize() : byteIndex * 8 / dtype.bits();
    }

    /** The multi-dimensional index of row-major element {@code flat} of a tensor of {@code sizes}. */
    static long[] unravel(long flat, long[] sizes) {
        long[] index = new long[sizes.length];
        for (int d = sizes.length - 1; d >= 0; d--) {
            index[d] = flat % sizes[d];
            flat /= sizes[d];
        }
        return index;
    }

    /** One element as a user reads it: its value for arithmetic dtypes, with its raw bits. */
    static String describe(Tensor t, long[] index) {
        if (!t.dtype().isByteAligned()) {
            return "(sub-byte " + t.dtype() + ")";
        }
        String bits = "0x" + Long.toHexString(t.getBits(index));
        return t.dtype().isConvertible() ? t.getDouble(index) + " (" + bits + ")" : bits;
    }
}
