package dev.moeshard.properties.tensor;

import dev.moeshard.properties.harness.Gen;
import dev.moeshard.properties.harness.PropertyCheck;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.FloatFormat;
import dev.moeshard.tensor.copy.CopyEngine;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code copy(dst, src)} between random strided views writes exactly the naive result: every destination element
 * gets its source element (converted by {@link FloatFormat} when the dtypes differ), and no other byte of the
 * destination storage changes. Checked for every element width, scalar and SIMD, on one thread and split over
 * several (threshold 0 splits every copy).
 */
class CopyEngineProperties {
    private static final List<DType> RAW = List.of(DType.U8, DType.F8_E5M2, DType.I16, DType.BF16, DType.F16,
            DType.I32, DType.F32, DType.I64, DType.F64);
    private static final List<DType> ARITHMETIC = List.of(DType.F64, DType.F32, DType.F16, DType.BF16,
            DType.F8_E4M3, DType.F8_E5M2);
    private static final List<CopyEngine> ENGINES = List.of(
            CopyEngine.create(false, 1), CopyEngine.create(true, 1),
            CopyEngine.create(false, 3, 0), CopyEngine.create(true, 3, 0), CopyEngine.create(true, 2, 96));

    @Test
    void copiesGiveTheNaiveResult() {
        PropertyCheck.forAll("copy engine", gen -> {
            DType from;
            DType to;
            if (gen.chance(0.6)) {
                from = to = gen.oneOf(RAW);
            } else {
                from = gen.oneOf(ARITHMETIC);
                to = gen.oneOf(ARITHMETIC);
            }
            long[] shape = shape(gen);
            StridedLayout src = StridedLayout.random(gen, from, shape, true);
            StridedLayout dst = StridedLayout.random(gen, to, shape, false);
            byte[] expected = expected(src, dst);
            byte[] before = dst.bytes();
            for (CopyEngine engine : ENGINES) {
                MemorySegment.copy(MemorySegment.ofArray(before), 0, dst.storage(), 0, before.length);
                engine.copy(dst.tensor(), src.tensor());
                byte[] got = dst.bytes();
                if (!Arrays.equals(expected, got)) {
                    int at = Arrays.mismatch(expected, got);
                    throw new AssertionError(engine.kernels().getClass().getSimpleName() + " on " + engine.threads()
                            + " threads, " + from + " " + src.tensor() + " -> " + to + " " + dst.tensor()
                            + ": storage byte " + at + " is " + got[at] + ", expected " + expected[at]);
                }
            }
        });
    }

    /** Small shapes, with now and then one long dimension so that vector loops and tiles get full lanes. */
    private static long[] shape(Gen gen) {
        long[] s = gen.shape(4, 9);
        if (s.length > 0 && gen.chance(0.3)) {
            s[gen.between(0, s.length - 1)] = gen.between(17L, 70L);
        }
        return s;
    }

    private static byte[] expected(StridedLayout src, StridedLayout dst) {
        byte[] out = dst.bytes();
        MemorySegment s = src.storage();
        MemorySegment o = MemorySegment.ofArray(out);
        int inWidth = src.dtype().byteSize();
        int outWidth = dst.dtype().byteSize();
        for (long i = 0; i < src.numel(); i++) {
            long bits = read(s, src.byteOf(i), inWidth);
            if (src.dtype() != dst.dtype()) {
                double value = FloatFormat.require(src.dtype()).decode(bits);
                bits = FloatFormat.require(dst.dtype()).encode(value);
            }
            write(o, dst.byteOf(i), outWidth, bits);
        }
        return out;
    }

    private static long read(MemorySegment m, long at, int width) {
        long v = 0;
        for (int b = width - 1; b >= 0; b--) {
            v = (v << 8) | (m.get(ValueLayout.JAVA_BYTE, at + b) & 0xff);
        }
        return v;
    }

    private static void write(MemorySegment m, long at, int width, long bits) {
        for (int b = 0; b < width; b++) {
            m.set(ValueLayout.JAVA_BYTE, at + b, (byte) (bits >>> (8 * b)));
        }
    }
}
