package dev.moeshard.tensor.convert;

import dev.moeshard.tensor.DType;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every ordered pair of the six arithmetic dtypes: the chosen scalar converter, and {@link Converters#best}, give
 * bit for bit what the generic {@code FloatFormat} path gives, over every pattern of the 8- and 16-bit sources and
 * many random and special F32 and F64 values.
 */
class ScalarMatchesGenericTest {
    private static final DType[] ARITHMETIC = {
        DType.F64, DType.F32, DType.F16, DType.BF16, DType.F8_E4M3, DType.F8_E5M2
    };

    static Stream<Arguments> pairs() {
        List<Arguments> pairs = new ArrayList<>();
        for (DType from : ARITHMETIC) {
            for (DType to : ARITHMETIC) {
                if (from != to) {
                    pairs.add(Arguments.of(from, to));
                }
            }
        }
        return pairs.stream();
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("pairs")
    void scalarAndBestMatchGeneric(DType from, DType to) {
        long[] input = inputs(from);
        long[] expected = ConversionRuns.generic(from, to, input);
        ExhaustiveRoundTripTest.assertSame(from, to, input, expected,
                ConversionRuns.run(Converters.scalar(from, to), from, to, input), "scalar");
        ExhaustiveRoundTripTest.assertSame(from, to, input, expected,
                ConversionRuns.run(Converters.best(from, to), from, to, input), "best");
    }

    private static long[] inputs(DType from) {
        return switch (from) {
            case F32 -> concat(ConversionRuns.f32Patterns(TestFloats.randomFloats(32, 60_000)),
                    ConversionRuns.f32Patterns(TestFloats.specialFloats()));
            case F64 -> concat(ConversionRuns.f64Patterns(TestFloats.randomDoubles(64, 60_000)),
                    ConversionRuns.f64Patterns(TestFloats.specialDoubles()));
            default -> ConversionRuns.allPatterns(from);
        };
    }

    private static long[] concat(long[] a, long[] b) {
        long[] out = new long[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
