package dev.moeshard.tensor.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.tensor.DType;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Conversions work on a JVM started with no flags: {@link Converters#best} then hands out the scalar converter
 * instead of failing to load the Panama one. Tagged so that the build also runs it without the vector module.
 */
@Tag("no-flags")
class ConvertersWithoutVectorModuleTest {
    @Test
    void bestConvertsWithOrWithoutTheVectorModule() {
        long[] bf16 = {0x3f80, 0xc000, 0x7f80, 0x7fc1, 0x0001};
        long[] expected = {0x3f80_0000L, 0xc000_0000L, 0x7f80_0000L, 0x7fc0_0000L, 0x0001_0000L};
        assertArrayEquals(expected, ConversionRuns.run(Converters.best(DType.BF16, DType.F32), DType.BF16, DType.F32, bf16));
        long[] f32 = new long[40];
        for (int i = 0; i < f32.length; i++) {
            f32[i] = Float.floatToRawIntBits(i * 0.7f - 3f) & 0xffff_ffffL;
        }
        assertArrayEquals(ConversionRuns.generic(DType.F32, DType.F8_E4M3, f32),
                ConversionRuns.run(Converters.best(DType.F32, DType.F8_E4M3), DType.F32, DType.F8_E4M3, f32));
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            assertTrue(Converters.simd(DType.BF16, DType.F32).isEmpty(), "no SIMD without the vector module");
        }
    }
}
