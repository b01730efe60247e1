package dev.moeshard.moe.quant;

import static jdk.incubator.vector.VectorOperators.B2I;
import static jdk.incubator.vector.VectorOperators.EQ;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * MXFP4 decoding with the Vector API, loaded by name through {@link dev.moeshard.tensor.simd.VectorSupport} only when
 * the Vector API is usable. Same arithmetic as {@link ScalarMxfp4Kernel}, lane by lane, with no table look-up: the
 * preferred int vector has L = 4, 8 or 16 lanes, too few for a 16-entry float table on most CPUs, so each code is
 * turned into F32 bits with shifts and two blends ({@link Fp4E2M1} shows the formula).
 *
 * <p>One block's 16 bytes are loaded once as a 128-bit byte vector. Output lanes come in pairs from one byte (low
 * nibble, then high), so for each run of L outputs a shuffle repeats every byte twice and B2I widens the first L lanes:
 * <pre>
 *   bytes   b0 b1 b2 b3 ...            (16 lanes, one block)
 *   shuffle b0 b0 b1 b1 b2 b2 ...      (run c starts at byte c·L/2)
 *   B2I     int lanes, then >>> [0, 4, 0, 4, ...] and &amp; 0xF   →   l0 h0 l1 h1 ...
 * </pre>
 */
final class PanamaMxfp4Kernel implements Mxfp4Kernel {
    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Byte> BLOCK = ByteVector.SPECIES_128;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final int LANES = INTS.length();
    private static final int RUNS = BLOCK_VALUES / LANES;
    private static final IntVector NIBBLE_SHIFT;
    @SuppressWarnings("unchecked")
    private static final VectorShuffle<Byte>[] PAIRS = new VectorShuffle[RUNS];

    static {
        assert FLOATS.length() == LANES && BLOCK_VALUES % LANES == 0 && LANES <= BLOCK.length()
                : "ints " + INTS + ", floats " + FLOATS + " do not tile a 32-value block";
        int[] shift = new int[LANES];
        for (int k = 0; k < LANES; k++) {
            shift[k] = (k & 1) * 4;
        }
        NIBBLE_SHIFT = IntVector.fromArray(INTS, shift, 0);
        for (int run = 0; run < RUNS; run++) {
            int[] source = new int[BLOCK.length()];
            for (int k = 0; k < LANES; k++) {
                source[k] = run * LANES / 2 + k / 2;
            }
            PAIRS[run] = VectorShuffle.fromArray(BLOCK, source, 0);
        }
    }

    PanamaMxfp4Kernel() {}

    @Override
    public void decode(MemorySegment packed, long blockOffset, MemorySegment scales, long scaleOffset,
                       MemorySegment out, long outOffset, long blocks) {
        for (long b = 0; b < blocks; b++) {
            float half = E8M0Scale.halfScale(scales.get(ValueLayout.JAVA_BYTE, scaleOffset + b));
            ByteVector bytes = ByteVector.fromMemorySegment(BLOCK, packed, blockOffset + b * BLOCK_BYTES, LE);
            long at = outOffset + (long) b * BLOCK_VALUES * Float.BYTES;
            for (int run = 0; run < RUNS; run++) {
                IntVector wide = (IntVector) bytes.rearrange(PAIRS[run]).convertShape(B2I, INTS, 0);
                IntVector code = wide.lanewise(LSHR, NIBBLE_SHIFT).and(0xF);
                IntVector magnitude = code.and(7);
                IntVector bits = magnitude.lanewise(LSHL, 22).add(Fp4E2M1.REBIAS)
                        .blend(Fp4E2M1.HALF_BITS, magnitude.compare(EQ, 1))
                        .blend(0, magnitude.compare(EQ, 0))
                        .or(code.and(8).lanewise(LSHL, 28));
                FloatVector values = bits.reinterpretAsFloats().mul(half).mul(2.0f);
                values.intoMemorySegment(out, at + (long) run * LANES * Float.BYTES, LE);
            }
        }
    }
}
