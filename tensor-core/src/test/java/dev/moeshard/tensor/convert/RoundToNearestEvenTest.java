package dev.moeshard.tensor.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.FloatFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * F32 and F64 to BF16, F16, F8_E4M3 and F8_E5M2 round to nearest, ties to even, with each format's overflow rule:
 * checked against {@link RoundingReference}, which shares no code with {@link FloatFormat}, for {@code FloatFormat}
 * itself, the scalar converters and, where they exist, the SIMD ones.
 */
class RoundToNearestEvenTest {
    static Stream<Arguments> formats() {
        return Stream.of(
                Arguments.of(DType.BF16, RoundingReference.bf16()),
                Arguments.of(DType.F16, RoundingReference.f16()),
                Arguments.of(DType.F8_E4M3, RoundingReference.e4m3()),
                Arguments.of(DType.F8_E5M2, RoundingReference.e5m2()));
    }

    @ParameterizedTest(name = "F32 -> {0}")
    @MethodSource("formats")
    void randomAndBoundaryFloatsRoundLikeTheReference(DType to, RoundingReference reference) {
        float[] random = TestFloats.randomFloats(20_240_611L + to.ordinal(), 60_000);
        float[] boundaries = boundaryFloats(reference);
        float[] specials = TestFloats.specialFloats();
        float[] all = new float[random.length + boundaries.length + specials.length];
        System.arraycopy(random, 0, all, 0, random.length);
        System.arraycopy(boundaries, 0, all, random.length, boundaries.length);
        System.arraycopy(specials, 0, all, random.length + boundaries.length, specials.length);
        checkFloats(to, reference, all);
    }

    @ParameterizedTest(name = "F32 -> {0}")
    @MethodSource("formats")
    void namedEdgeCases(DType to, RoundingReference reference) {
        int top = reference.finiteCodes() - 1; // the largest finite magnitude code
        double max = reference.valueOf(top);
        double smallest = reference.valueOf(1);
        int overflow = to == DType.F8_E4M3 ? top : top + 1; // saturation, or the infinity code
        Map<String, Float> cases = new LinkedHashMap<>();
        cases.put("largest finite", (float) max);
        cases.put("just below largest finite", Math.nextDown((float) max));
        cases.put("just above largest finite", Math.nextUp((float) max));
        cases.put("halfway from largest finite to the next step", (float) reference.midpoint(top));
        cases.put("just below that halfway", Math.nextDown((float) reference.midpoint(top)));
        cases.put("just above that halfway", Math.nextUp((float) reference.midpoint(top)));
        cases.put("the next step", (float) reference.valueOf(top + 1));
        cases.put("smallest subnormal", (float) smallest);
        cases.put("half the smallest subnormal", (float) (smallest / 2));
        cases.put("just above half the smallest subnormal", Math.nextUp((float) (smallest / 2)));
        cases.put("1.5 smallest subnormals (tie, up to even 2)", (float) (smallest * 1.5));
        cases.put("2.5 smallest subnormals (tie, down to even 2)", (float) (smallest * 2.5));
        cases.put("tie between 1 and its successor (down to even 1)", (float) reference.midpoint(codeOfOne(reference)));
        cases.put("tie above 1's successor (up to even)", (float) reference.midpoint(codeOfOne(reference) + 1));
        cases.put("+0", 0f);
        cases.put("-0", -0f);
        cases.put("+inf", Float.POSITIVE_INFINITY);
        cases.put("-inf", Float.NEGATIVE_INFINITY);
        cases.put("NaN", Float.NaN);
        cases.put("-NaN", Float.intBitsToFloat(0xffc0_0000));
        // A few expectations spelled out, so that the reference itself is checked too.
        assertEquals(top, reference.round(max));
        assertEquals(overflow, reference.round(reference.midpoint(top) * 1.0000001));
        assertEquals(0, reference.round(smallest / 2));
        assertEquals(1, reference.round(Math.nextUp(smallest / 2)));
        assertEquals(2, reference.round(smallest * 1.5));
        assertEquals(2, reference.round(smallest * 2.5));
        assertEquals(reference.signBit(), reference.round(-0.0));

        float[] values = new float[cases.size()];
        String[] names = cases.keySet().toArray(String[]::new);
        int i = 0;
        for (float v : cases.values()) {
            values[i++] = v;
        }
        long[] input = ConversionRuns.f32Patterns(values);
        for (var result : results(DType.F32, to, input).entrySet()) {
            for (int k = 0; k < values.length; k++) {
                int expected = reference.round(values[k]);
                long actual = result.getValue()[k];
                if (actual != expected) {
                    fail(result.getKey() + " F32 -> " + to + ", " + names[k] + " (" + values[k] + "): expected "
                            + ConversionRuns.hex(to, expected) + ", got " + ConversionRuns.hex(to, actual));
                }
            }
        }
    }

    @ParameterizedTest(name = "F64 -> {0}")
    @MethodSource("formats")
    void doublesRoundOnceLikeTheReference(DType to, RoundingReference reference) {
        double[] random = TestFloats.randomDoubles(7_000_000L + to.ordinal(), 30_000);
        int step = Math.max(1, reference.finiteCodes() / 4096);
        double[] boundaries = new double[6 * ((reference.finiteCodes() + step - 1) / step)];
        int n = 0;
        for (int code = 0; code < reference.finiteCodes(); code += step) {
            double tie = reference.midpoint(code);
            for (double v : new double[] {tie, Math.nextUp(tie), Math.nextDown(tie)}) {
                boundaries[n++] = v;
                boundaries[n++] = -v;
            }
        }
        double[] specials = TestFloats.specialDoubles();
        double[] all = new double[random.length + n + specials.length];
        System.arraycopy(random, 0, all, 0, random.length);
        System.arraycopy(boundaries, 0, all, random.length, n);
        System.arraycopy(specials, 0, all, random.length + n, specials.length);

        long[] input = ConversionRuns.f64Patterns(all);
        Map<String, long[]> results = results(DType.F64, to, input);
        for (int i = 0; i < all.length; i++) {
            int expected = reference.round(all[i]);
            for (var result : results.entrySet()) {
                if (result.getValue()[i] != expected) {
                    fail(result.getKey() + " F64 -> " + to + " of " + all[i] + " (" + ConversionRuns.hex(DType.F64,
                            input[i]) + ") gave " + ConversionRuns.hex(to, result.getValue()[i]) + ", expected "
                            + ConversionRuns.hex(to, expected));
                }
            }
        }
    }

    private static void checkFloats(DType to, RoundingReference reference, float[] values) {
        long[] input = ConversionRuns.f32Patterns(values);
        Map<String, long[]> results = results(DType.F32, to, input);
        for (int i = 0; i < values.length; i++) {
            int expected = reference.round(values[i]);
            for (var result : results.entrySet()) {
                if (result.getValue()[i] != expected) {
                    fail(result.getKey() + " F32 -> " + to + " of " + values[i] + " (" + ConversionRuns.hex(DType.F32,
                            input[i]) + ") gave " + ConversionRuns.hex(to, result.getValue()[i]) + ", expected "
                            + ConversionRuns.hex(to, expected));
                }
            }
        }
    }

    /** The output of FloatFormat, the scalar converter and (if present) the SIMD converter, by name. */
    private static Map<String, long[]> results(DType from, DType to, long[] input) {
        Map<String, long[]> results = new LinkedHashMap<>();
        FloatFormat source = FloatFormat.require(from);
        FloatFormat target = FloatFormat.require(to);
        long[] encoded = new long[input.length];
        for (int i = 0; i < input.length; i++) {
            encoded[i] = target.encode(source.decode(input[i]));
        }
        results.put("FloatFormat", encoded);
        results.put("scalar", ConversionRuns.run(Converters.scalar(from, to), from, to, input));
        Optional<ElementConverter> simd = Converters.simd(from, to);
        simd.ifPresent(c -> results.put("SIMD", ConversionRuns.run(c, from, to, input)));
        return results;
    }

    /** Every value halfway between two neighbouring codes, and the floats either side of it, both signs. */
    private static float[] boundaryFloats(RoundingReference reference) {
        int codes = reference.finiteCodes(); // pairs (c, c + 1) for c < codes, the last one with the step past
        float[] out = new float[codes * 6];
        int n = 0;
        for (int code = 0; code < codes; code++) {
            float tie = (float) reference.midpoint(code);
            assertEquals(reference.midpoint(code), tie, 0.0, "a tie of " + reference + " is not a float");
            for (float v : new float[] {tie, Math.nextUp(tie), Math.nextDown(tie)}) {
                out[n++] = v;
                out[n++] = -v;
            }
        }
        return out;
    }

    private static int codeOfOne(RoundingReference reference) {
        int code = 0;
        while (reference.valueOf(code) != 1.0) {
            code++;
        }
        return code;
    }
}
