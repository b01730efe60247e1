package dev.moeshard.moe.quant;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** The MXFP4 decoder that works on every JVM: two table look-ups and two multiplications per byte. */
final class ScalarMxfp4Kernel implements Mxfp4Kernel {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final float[] VALUES = new float[16];

    static {
        for (int code = 0; code < 16; code++) {
            VALUES[code] = Fp4E2M1.value(code);
        }
    }

    @Override
    public void decode(MemorySegment packed, long blockOffset, MemorySegment scales, long scaleOffset,
                       MemorySegment out, long outOffset, long blocks) {
        for (long b = 0; b < blocks; b++) {
            float half = E8M0Scale.halfScale(scales.get(ValueLayout.JAVA_BYTE, scaleOffset + b));
            long in = blockOffset + b * BLOCK_BYTES;
            long at = outOffset + b * BLOCK_VALUES * Float.BYTES;
            for (int j = 0; j < BLOCK_BYTES; j++) {
                int packedByte = packed.get(ValueLayout.JAVA_BYTE, in + j);
                out.set(F32, at + 8L * j, VALUES[packedByte & 0xF] * half * 2.0f);
                out.set(F32, at + 8L * j + 4, VALUES[(packedByte >>> 4) & 0xF] * half * 2.0f);
            }
        }
    }
}
