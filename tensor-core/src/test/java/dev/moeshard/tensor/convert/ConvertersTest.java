package dev.moeshard.tensor.convert;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.tensor.DType;
import org.junit.jupiter.api.Test;

class ConvertersTest {
    @Test
    void dtypesWithoutValueConversionAreRefusedNamingBoth() {
        for (DType[] pair : new DType[][] {{DType.I32, DType.F32}, {DType.BF16, DType.U8},
                {DType.F8_E4M3FNUZ, DType.BF16}, {DType.F32, DType.F4}}) {
            for (var attempt : new org.junit.jupiter.api.function.Executable[] {
                    () -> Converters.scalar(pair[0], pair[1]),
                    () -> Converters.best(pair[0], pair[1]),
                    () -> Converters.simd(pair[0], pair[1])}) {
                var e = assertThrows(UnsupportedOperationException.class, attempt);
                assertTrue(e.getMessage().contains(pair[0].toString()) && e.getMessage().contains(pair[1].toString()),
                        e.getMessage());
            }
        }
    }
}
