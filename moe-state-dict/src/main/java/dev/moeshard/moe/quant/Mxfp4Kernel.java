package dev.moeshard.moe.quant;

import java.lang.foreign.MemorySegment;

/**
 * Decodes runs of MXFP4 blocks to F32. A block is 16 bytes holding 32 FP4 codes, the low nibble of byte j first
 * (element 2j), then its high nibble (element 2j + 1), and shares one E8M0 scale byte:
 * <pre>
 *   byte j of a block:   hhhh llll   →   out[2j] = fp4(llll) × 2^(s − 127),   out[2j + 1] = fp4(hhhh) × 2^(s − 127)
 * </pre>
 * Its implementations, scalar and Vector API, give the same bits for every input. No vector type appears here, so
 * the interface loads on any JVM.
 */
interface Mxfp4Kernel {
    /** Bytes per block, values per block. */
    int BLOCK_BYTES = 16;
    int BLOCK_VALUES = 32;

    /**
     * Decodes {@code blocks} consecutive blocks starting at byte {@code blockOffset} of {@code packed}, with their
     * scales at byte {@code scaleOffset} of {@code scales} (one per block), into {@code 32 × blocks} little-endian F32
     * values at byte {@code outOffset} of {@code out}.
     */
    void decode(MemorySegment packed, long blockOffset, MemorySegment scales, long scaleOffset, MemorySegment out,
                long outOffset, long blocks);
}
