package dev.moeshard.tensor;

import dev.moeshard.tensor.copy.CopyEngine;

/** {@link CopyFromTest} on the SIMD kernels (scalar where this JVM has no Vector API) on one thread. */
class SimdCopyFromTest extends CopyFromTest {
    private static final CopyEngine ENGINE = CopyEngine.create(true, 1, CopyEngine.PARALLEL_THRESHOLD_BYTES);

    @Override
    CopyEngine engine() {
        return ENGINE;
    }
}
