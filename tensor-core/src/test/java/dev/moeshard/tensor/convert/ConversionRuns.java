package dev.moeshard.tensor.convert;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.ElementAccess;
import dev.moeshard.tensor.FloatFormat;
import java.lang.foreign.MemorySegment;

/** Runs a converter over arrays of bit patterns, so that tests can compare results element by element. */
final class ConversionRuns {
    private ConversionRuns() {}

    /** Converts {@code input} (bit patterns of {@code from}) contiguously and returns the bit patterns of {@code to}. */
    static long[] run(ElementConverter converter, DType from, DType to, long[] input) {
        MemorySegment src = write(from, input);
        MemorySegment dst = MemorySegment.ofArray(new byte[input.length * to.byteSize()]);
        converter.convert(src, 0, from.byteSize(), dst, 0, to.byteSize(), input.length);
        return read(to, dst, input.length);
    }

    /** What {@link FloatFormat} gives for each input: the definition every converter must match. */
    static long[] generic(DType from, DType to, long[] input) {
        FloatFormat source = FloatFormat.require(from);
        FloatFormat target = FloatFormat.require(to);
        long[] out = new long[input.length];
        for (int i = 0; i < input.length; i++) {
            out[i] = target.encode(source.decode(input[i]));
        }
        return out;
    }

    /** Every bit pattern of an 8- or 16-bit dtype. */
    static long[] allPatterns(DType dtype) {
        int n = 1 << dtype.bits();
        long[] all = new long[n];
        for (int i = 0; i < n; i++) {
            all[i] = i;
        }
        return all;
    }

    static long[] f32Patterns(float[] values) {
        long[] bits = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Integer.toUnsignedLong(Float.floatToRawIntBits(values[i]));
        }
        return bits;
    }

    static long[] f64Patterns(double[] values) {
        long[] bits = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Double.doubleToRawLongBits(values[i]);
        }
        return bits;
    }

    static MemorySegment write(DType dtype, long[] bits) {
        int width = dtype.byteSize();
        MemorySegment segment = MemorySegment.ofArray(new byte[bits.length * width]);
        for (int i = 0; i < bits.length; i++) {
            ElementAccess.writeBits(segment, (long) i * width, width, bits[i]);
        }
        return segment;
    }

    static long[] read(DType dtype, MemorySegment segment, int count) {
        int width = dtype.byteSize();
        long[] bits = new long[count];
        for (int i = 0; i < count; i++) {
            bits[i] = ElementAccess.readBits(segment, (long) i * width, width);
        }
        return bits;
    }

    static String hex(DType dtype, long bits) {
        return String.format("0x%0" + (2 * dtype.byteSize()) + "x", bits);
    }
}
