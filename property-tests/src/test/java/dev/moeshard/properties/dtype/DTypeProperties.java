package dev.moeshard.properties.dtype;

import dev.moeshard.properties.harness.PropertyCheck;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.FloatFormat;
import dev.moeshard.tensor.convert.Converters;
import dev.moeshard.tensor.convert.ElementConverter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The 8- and 16-bit float formats against {@link NearestEvenReference}: every bit pattern widens to F32 exactly and
 * comes back unchanged (NaNs to the canonical NaN of their sign); every midpoint between two neighbouring values, and
 * the F32 numbers just either side of it, round to nearest even; and so do random F32 bit patterns. Each check runs
 * through {@link FloatFormat} and the scalar and best (SIMD where available) converters.
 */
class DTypeProperties {
    private static final Map<DType, NearestEvenReference> FORMATS = new LinkedHashMap<>();

    static {
        FORMATS.put(DType.BF16, new NearestEvenReference("BF16", 8, 7, true));
        FORMATS.put(DType.F16, new NearestEvenReference("F16", 5, 10, true));
        FORMATS.put(DType.F8_E5M2, new NearestEvenReference("F8_E5M2", 5, 2, true));
        FORMATS.put(DType.F8_E4M3, new NearestEvenReference("F8_E4M3", 4, 3, false));
    }

    @Test
    void everyBitPatternWidensExactlyAndComesBack() {
        FORMATS.forEach((dtype, ref) -> {
            int n = ref.codes();
            long[] codes = new long[n];
            for (int c = 0; c < n; c++) {
                codes[c] = c;
            }
            for (ElementConverter widen : converters(dtype, DType.F32)) {
                long[] f32 = convert(widen, dtype, DType.F32, codes);
                for (ElementConverter narrow : converters(DType.F32, dtype)) {
                    long[] back = convert(narrow, DType.F32, dtype, f32);
                    for (int c = 0; c < n; c++) {
                        float v = Float.intBitsToFloat((int) f32[c]);
                        double expected = ref.decode(c);
                        boolean nan = Double.isNaN(expected);
                        long sign = (c & ref.signBit()) != 0 ? 1 : 0;
                        if (nan ? !Float.isNaN(v) || (f32[c] >>> 31) != sign
                                : Double.doubleToRawLongBits(v) != Double.doubleToRawLongBits(expected)) {
                            throw new AssertionError(dtype + " code 0x" + Integer.toHexString(c) + " widens to " + v
                                    + ", expected " + expected);
                        }
                        int want = nan ? ref.nan((c & ref.signBit()) != 0) : c;
                        if (back[c] != want) {
                            throw new AssertionError(dtype + " code 0x" + Integer.toHexString(c) + " -> F32 " + v
                                    + " -> 0x" + Long.toHexString(back[c]) + ", expected 0x" + Integer.toHexString(want));
                        }
                    }
                }
                for (int c = 0; c < n; c++) {
                    double d = FloatFormat.require(dtype).decode(c);
                    if (Double.isNaN(ref.decode(c)) ? !Double.isNaN(d) : d != ref.decode(c)
                            || Double.doubleToRawLongBits(d) != Double.doubleToRawLongBits(ref.decode(c))) {
                        throw new AssertionError("FloatFormat decodes " + dtype + " 0x" + Integer.toHexString(c)
                                + " as " + d + ", expected " + ref.decode(c));
                    }
                }
            }
        });
    }

    @Test
    void everyMidpointAndItsNeighboursRoundToNearestEven() {
        FORMATS.forEach((dtype, ref) -> {
            double[] v = ref.positiveValues();
            float[] inputs = new float[v.length * 12 + 12];
            int k = 0;
            for (int i = 0; i + 1 <= v.length; i++) {
                // The last "next value" is the power of two past the maximum: the overflow boundary.
                double next = i + 1 < v.length ? v[i + 1] : v[i] + (v[i] - v[i - 1]);
                float mid = (float) ((v[i] + next) / 2);
                for (float x : new float[] {mid, Math.nextUp(mid), Math.nextDown(mid), (float) v[i], Math.nextUp((float) v[i]), Math.nextDown((float) v[i])}) {
                    inputs[k++] = x;
                    inputs[k++] = -x;
                }
            }
            float[] specials = {Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.MAX_VALUE,
                    -Float.MAX_VALUE, Float.MIN_VALUE, -Float.MIN_VALUE, 0f, -0f, 1e30f, -1e30f, 1e-30f};
            for (float x : specials) {
                inputs[k++] = x;
            }
            checkRounding(dtype, ref, java.util.Arrays.copyOf(inputs, k));
        });
    }

    @Test
    void randomF32BitPatternsRoundToNearestEven() {
        PropertyCheck.forAll("F32 rounding", gen -> {
            float[] inputs = new float[512];
            for (int i = 0; i < inputs.length; i++) {
                inputs[i] = Float.intBitsToFloat(gen.nextInt());
            }
            for (Map.Entry<DType, NearestEvenReference> f : FORMATS.entrySet()) {
                checkRounding(f.getKey(), f.getValue(), inputs);
            }
        });
    }

    private static void checkRounding(DType dtype, NearestEvenReference ref, float[] inputs) {
        long[] bits = new long[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            bits[i] = Float.floatToRawIntBits(inputs[i]) & 0xffff_ffffL;
        }
        FloatFormat format = FloatFormat.require(dtype);
        for (ElementConverter c : converters(DType.F32, dtype)) {
            long[] got = convert(c, DType.F32, dtype, bits);
            for (int i = 0; i < inputs.length; i++) {
                int want = ref.round(inputs[i]);
                if (got[i] != want || format.encode(inputs[i]) != want) {
                    throw new AssertionError("F32 " + inputs[i] + " (0x" + Long.toHexString(bits[i]) + ") -> " + dtype
                            + ": converter 0x" + Long.toHexString(got[i]) + ", FloatFormat 0x"
                            + Long.toHexString(format.encode(inputs[i])) + ", expected 0x" + Integer.toHexString(want));
                }
            }
        }
    }

    private static List<ElementConverter> converters(DType from, DType to) {
        return List.of(Converters.scalar(from, to), Converters.best(from, to));
    }

    private static long[] convert(ElementConverter c, DType from, DType to, long[] input) {
        int wi = from.byteSize();
        int wo = to.byteSize();
        MemorySegment src = Arena.ofAuto().allocate((long) input.length * wi + 1, 8);
        MemorySegment dst = Arena.ofAuto().allocate((long) input.length * wo + 1, 8);
        for (int i = 0; i < input.length; i++) {
            for (int b = 0; b < wi; b++) {
                src.set(ValueLayout.JAVA_BYTE, (long) i * wi + b, (byte) (input[i] >>> (8 * b)));
            }
        }
        c.convert(src, 0, wi, dst, 0, wo, input.length);
        long[] out = new long[input.length];
        for (int i = 0; i < input.length; i++) {
            long v = 0;
            for (int b = wo - 1; b >= 0; b--) {
                v = (v << 8) | (dst.get(ValueLayout.JAVA_BYTE, (long) i * wo + b) & 0xff);
            }
            out[i] = v;
        }
        return out;
    }
}
