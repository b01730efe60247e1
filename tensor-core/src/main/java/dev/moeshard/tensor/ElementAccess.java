package dev.moeshard.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Reads and writes one element's raw bits, little-endian as safetensors stores them, whatever the element width. */
public final class ElementAccess {
    public static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfDouble DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private ElementAccess() {}

    /** The element of {@code width} bytes (1, 2, 4 or 8) at {@code byteOffset}, zero-extended. */
    public static long readBits(MemorySegment segment, long byteOffset, int width) {
        return switch (width) {
            case 1 -> Byte.toUnsignedLong(segment.get(ValueLayout.JAVA_BYTE, byteOffset));
            case 2 -> Short.toUnsignedLong(segment.get(SHORT, byteOffset));
            case 4 -> Integer.toUnsignedLong(segment.get(INT, byteOffset));
            case 8 -> segment.get(LONG, byteOffset);
            default -> throw new IllegalArgumentException("no element access for width " + width);
        };
    }

    /** Writes the low {@code width} bytes of {@code bits} at {@code byteOffset}. */
    public static void writeBits(MemorySegment segment, long byteOffset, int width, long bits) {
        switch (width) {
            case 1 -> segment.set(ValueLayout.JAVA_BYTE, byteOffset, (byte) bits);
            case 2 -> segment.set(SHORT, byteOffset, (short) bits);
            case 4 -> segment.set(INT, byteOffset, (int) bits);
            case 8 -> segment.set(LONG, byteOffset, bits);
            default -> throw new IllegalArgumentException("no element access for width " + width);
        }
    }
}
