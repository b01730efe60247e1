package dev.moeshard.tensor.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.copy.CopyEngine;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Runs in a JVM started without {@code --add-modules jdk.incubator.vector} (the surefire execution
 * "without-vector-module"): the library must load, choose scalar code, say why, and copy correctly.
 */
@Tag("no-flags")
class WithoutVectorModuleTest {

    @Test
    void choosesScalarCodeAndSaysWhy() {
        assertTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty(),
                "this test must run without the vector module");
        assertFalse(VectorSupport.enabled());
        assertTrue(VectorSupport.reason().contains("jdk.incubator.vector"), VectorSupport.reason());
        assertEquals("scalar", CopyEngine.shared().kernels().name());
        assertEquals("scalar", CopyEngine.create(true, 2).kernels().name());
    }

    @Test
    void transposedAndConvertingCopiesWorkOnTheScalarPath() {
        Tensor src = Tensor.allocate(DType.F32, 37, 53);
        for (int i = 0; i < 37; i++) {
            for (int j = 0; j < 53; j++) {
                src.setDouble(i * 53 + j + 0.5, i, j);
            }
        }
        Tensor dst = Tensor.allocate(DType.BF16, 53, 37).copyFrom(src.t());
        for (int i = 0; i < 37; i++) {
            for (int j = 0; j < 53; j++) {
                int f32 = Float.floatToIntBits((float) src.getDouble(i, j));
                long bf16RoundedToNearestEven = ((f32 + 0x7FFF + ((f32 >>> 16) & 1)) >>> 16) & 0xFFFF;
                assertEquals(bf16RoundedToNearestEven, dst.getBits(j, i), "element " + i + "," + j);
            }
        }
    }
}
