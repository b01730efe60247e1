package dev.moeshard.tensor.convert;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.FloatFormat;

/**
 * Decoding tables for the 8-bit formats: an FP8 byte has only 256 values, so converting it to any format of up to 32
 * bits is one array load. Each table is built from {@link FloatFormat}'s own decode and encode, so a table converter
 * gives exactly the generic result (including every rounding to a narrower target, such as E4M3 to E5M2) and needs
 * no proof of its own. The F32 and BF16 tables, the hot ones, are built once; others on request.
 */
final class Fp8Tables {
    static final int[] E4M3_TO_F32 = build(DType.F8_E4M3, DType.F32);
    static final int[] E5M2_TO_F32 = build(DType.F8_E5M2, DType.F32);
    static final int[] E4M3_TO_BF16 = build(DType.F8_E4M3, DType.BF16);
    static final int[] E5M2_TO_BF16 = build(DType.F8_E5M2, DType.BF16);

    private Fp8Tables() {}

    /** The target bits (low {@code to.byteSize()} bytes) for each of the 256 codes of the 8-bit format {@code from}. */
    static int[] table(DType from, DType to) {
        if ((from != DType.F8_E4M3 && from != DType.F8_E5M2) || to.byteSize() > 4) {
            throw new IllegalArgumentException("no decoding table from " + from + " to " + to
                    + ": the source must be F8_E4M3 or F8_E5M2 and the target at most 32 bits wide");
        }
        if (to == DType.F32) {
            return from == DType.F8_E4M3 ? E4M3_TO_F32 : E5M2_TO_F32;
        }
        if (to == DType.BF16) {
            return from == DType.F8_E4M3 ? E4M3_TO_BF16 : E5M2_TO_BF16;
        }
        return build(from, to);
    }

    private static int[] build(DType from, DType to) {
        FloatFormat source = FloatFormat.require(from);
        FloatFormat target = FloatFormat.require(to);
        int[] table = new int[256];
        for (int code = 0; code < 256; code++) {
            table[code] = (int) target.encode(source.decode(code));
        }
        return table;
    }
}
