package dev.moeshard.tensor.copy;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Copy kernels on the Vector API. Loaded by name through {@link dev.moeshard.tensor.simd.VectorSupport} only.
 *
 * <p>Transposes of 2-, 4- and 8-byte elements work on L×L blocks, L = 16 or 8 lanes (see
 * {@link PanamaBlockTransposers}): L loads down the source's contiguous direction, log2(L) rounds of two-source lane
 * selection (one permute instruction each on AVX-512), L stores along the destination's rows.
 * Blocks narrower than a cache line are visited in bands of destination rows (see {@link #rowBands}); blocks a whole
 * line wide read large sources ahead chunk by chunk and visit blocks so that few source lines are live at once (see
 * {@link #readAheadChunks}); the constants below say why. Edges that do not fill a block go to the scalar kernel. One-byte elements are left to the scalar kernel: byte permutes across a whole vector need
 * AVX-512 VBMI, which many machines lack.
 */
final class PanamaCopyKernels implements CopyKernels {
    /** Runs shorter than this are copied with vector moves; longer ones with the bulk copy intrinsic. */
    private static final long SHORT_RUN_BYTES = 512;
    /**
     * Columns are taken in chunks of about this many source bytes: a chunk is read ahead sequentially into L2 (see
     * {@link SequentialPrefetch}) and then transposed, row band by row band, while it is still there.
     */
    private static final long CHUNK_BYTES = 256 * 1024;
    /** Sources smaller than this are likely in cache already; reading them ahead would only cost time. */
    private static final long PREFETCH_ABOVE_BYTES = 1024 * 1024;
    /**
     * Rows of a band, in blocks. Within a band, one group of L source lines is consumed whole before the next group
     * is loaded. Fewer lines live at once matters because the lines of one group often lie a power of two apart
     * (a [I, 2048] BF16 source has a 4096-byte row stride): they all map to the same L1 set, and a group larger than
     * the set's ways would evict itself.
     */
    private static final int BLOCKS_PER_BAND = 4;
    private static final int LINE_BYTES = 64;
    /**
     * Columns (source lines) that one pass of {@link #rowBands} covers: the next band reads the same lines again
     * further along, and a few hundred of them (24 KiB of the lines' used parts) stay in cache until it does, however
     * wide the matrix. Measured on BF16 merges and splits (benchmarks/probes, TransposeOrderProbe, bands:T): 384 was
     * 5% faster than 256 for E=128 H=2048 I=768 and H=4096 I=14336, 20% for H=I=2880, even for H=7168 I=2048;
     * 512 was close to 384, 768 and 1024 slower than 256.
     */
    private static final long BAND_TILE_COLUMNS = 384;

    private final ScalarCopyKernels scalar = ScalarCopyKernels.INSTANCE;
    private final BlockTransposer shorts = PanamaBlockTransposers.forWidth(2, PanamaVectors.BYTES.vectorBitSize());
    private final BlockTransposer ints = PanamaBlockTransposers.forWidth(4, PanamaVectors.BYTES.vectorBitSize());
    private final BlockTransposer longs = PanamaBlockTransposers.forWidth(8, PanamaVectors.BYTES.vectorBitSize());

    @Override
    public String name() {
        return "simd-" + PanamaVectors.BYTES.vectorBitSize();
    }

    @Override
    public void run(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long bytes) {
        if (bytes >= SHORT_RUN_BYTES) {
            MemorySegment.copy(src, srcOffset, dst, dstOffset, bytes);
            return;
        }
        VectorSpecies<Byte> species = PanamaVectors.BYTES;
        long i = 0;
        long full = bytes - bytes % species.length();
        for (; i < full; i += species.length()) {
            ByteVector.fromMemorySegment(species, src, srcOffset + i, PanamaVectors.ORDER)
                    .intoMemorySegment(dst, dstOffset + i, PanamaVectors.ORDER);
        }
        if (i < bytes) {
            VectorMask<Byte> tail = species.indexInRange(i, bytes);
            ByteVector.fromMemorySegment(species, src, srcOffset + i, PanamaVectors.ORDER, tail)
                    .intoMemorySegment(dst, dstOffset + i, PanamaVectors.ORDER, tail);
        }
    }

    @Override
    public void transpose(MemorySegment src, long srcOffset, long srcColStride,
                          MemorySegment dst, long dstOffset, long dstRowStride,
                          long rows, long cols, int width) {
        BlockTransposer blocks = switch (width) {
            case 2 -> shorts;
            case 4 -> ints;
            case 8 -> longs;
            default -> null;
        };
        if (blocks == null) {
            scalar.transpose(src, srcOffset, srcColStride, dst, dstOffset, dstRowStride, rows, cols, width);
            return;
        }
        blocked(blocks, src, srcOffset, srcColStride, dst, dstOffset, dstRowStride, rows, cols, width);
    }

    private void blocked(BlockTransposer t, MemorySegment src, long srcOffset, long srcColStride,
                         MemorySegment dst, long dstOffset, long dstRowStride,
                         long rows, long cols, int width) {
        int lanes = t.lanes();
        long fullRows = rows - rows % lanes;
        long fullCols = cols - cols % lanes;
        if ((long) lanes * width < LINE_BYTES) {
            rowBands(t, src, srcOffset, srcColStride, dst, dstOffset, dstRowStride, fullRows, fullCols, width,
                    BAND_TILE_COLUMNS);
        } else {
            readAheadChunks(t, src, srcOffset, srcColStride, dst, dstOffset, dstRowStride, rows, fullRows, fullCols,
                    width);
        }
        // Edges: the columns right of the last full block, then the rows below it.
        if (fullCols < cols) {
            scalar.transpose(src, srcOffset + fullCols * srcColStride, srcColStride,
                    dst, dstOffset + fullCols * width, dstRowStride, fullRows, cols - fullCols, width);
        }
        if (fullRows < rows) {
            scalar.transpose(src, srcOffset + fullRows * width, srcColStride,
                    dst, dstOffset + fullRows * dstRowStride, dstRowStride, rows - fullRows, cols, width);
        }
    }

    /**
     * For blocks whose rows are part of a cache line: L destination rows at a time, written left to right across a
     * tile of columns, so that the block that completes a destination line follows the one that began it while the
     * line is still in L1, and the destination is written as L sequential streams. Visiting blocks in source order
     * instead leaves every destination line half written until a later pass, and costs a second miss on it
     * (measured: BF16 merge and split 15–22% faster this way than with {@link #readAheadChunks}). Package-private,
     * with the tile width a parameter, for the probes that compare widths.
     */
    static void rowBands(BlockTransposer t, MemorySegment src, long srcOffset, long srcColStride,
                         MemorySegment dst, long dstOffset, long dstRowStride,
                         long fullRows, long fullCols, int width, long tileColumns) {
        int lanes = t.lanes();
        for (long c0 = 0; c0 < fullCols; c0 += tileColumns) {
            long cEnd = Math.min(fullCols, c0 + tileColumns);
            for (long r = 0; r < fullRows; r += lanes) {
                for (long c = c0; c < cEnd; c += lanes) {
                    t.block(src, srcOffset + r * width + c * srcColStride, srcColStride,
                            dst, dstOffset + r * dstRowStride + c * width, dstRowStride);
                }
            }
        }
    }

    /**
     * For blocks whose rows are whole cache lines, each destination line is written once, whole, whatever the order;
     * what remains to win is reading the source at streaming speed: chunk by chunk, each read ahead into L2 and then
     * transposed in the order that crowds L1 sets least.
     */
    private static void readAheadChunks(BlockTransposer t, MemorySegment src, long srcOffset, long srcColStride,
                                        MemorySegment dst, long dstOffset, long dstRowStride,
                                        long rows, long fullRows, long fullCols, int width) {
        int lanes = t.lanes();
        long columnBytes = rows * width;
        long chunkCols = Math.max(lanes, (CHUNK_BYTES / Math.max(columnBytes, 1)) / lanes * lanes);
        boolean prefetch = fullCols * srcColStride > PREFETCH_ABOVE_BYTES;
        long bandRows = (long) lanes * BLOCKS_PER_BAND;
        for (long c0 = 0; c0 < fullCols; c0 += chunkCols) {
            long cEnd = Math.min(fullCols, c0 + chunkCols);
            if (prefetch) {
                for (long c = c0; c < cEnd; c++) {
                    SequentialPrefetch.region(src, srcOffset + c * srcColStride, columnBytes);
                }
            }
            // Visit blocks so that the side whose lines crowd into fewest L1 sets has fewest lines live at once.
            if (rowBlocksFirst(srcColStride, dstRowStride, lanes)) {
                for (long r = 0; r < fullRows; r += lanes) {
                    for (long c = c0; c < cEnd; c += lanes) {
                        t.block(src, srcOffset + r * width + c * srcColStride, srcColStride,
                                dst, dstOffset + r * dstRowStride + c * width, dstRowStride);
                    }
                }
            } else {
                for (long r0 = 0; r0 < fullRows; r0 += bandRows) {
                    long rEnd = Math.min(fullRows, r0 + bandRows);
                    for (long c = c0; c < cEnd; c += lanes) {
                        for (long r = r0; r < rEnd; r += lanes) {
                            t.block(src, srcOffset + r * width + c * srcColStride, srcColStride,
                                    dst, dstOffset + r * dstRowStride + c * width, dstRowStride);
                        }
                    }
                }
            }
        }
    }

    /** L1 sets that {@code lanes} lines {@code stride} bytes apart fall into (64 sets of 64-byte lines). */
    private static int distinctSets(long stride, int lanes) {
        long seen = 0;
        for (int k = 0; k < lanes; k++) {
            seen |= 1L << ((k * stride / 64) & 63);
        }
        return Long.bitCount(seen);
    }

    /**
     * Row blocks first keeps L destination rows live (each written whole across the chunk) and many source lines;
     * column groups first keeps L source lines live and many destination rows. The better order is the one that
     * asks fewer lines of the side that maps into fewer sets.
     */
    private static boolean rowBlocksFirst(long srcColStride, long dstRowStride, int lanes) {
        return distinctSets(dstRowStride, lanes) < distinctSets(srcColStride, lanes);
    }

    @Override
    public void gather(MemorySegment src, long srcOffset, long srcStride,
                       MemorySegment dst, long dstOffset, long dstStride, long count, int width) {
        // A strided gather has no contiguous side to vectorise; the scalar loop is as good as it gets.
        scalar.gather(src, srcOffset, srcStride, dst, dstOffset, dstStride, count, width);
    }
}
