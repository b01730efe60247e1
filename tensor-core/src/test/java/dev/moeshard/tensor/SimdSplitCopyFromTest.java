package dev.moeshard.tensor;

import dev.moeshard.tensor.copy.CopyEngine;

/** {@link CopyFromTest} on the SIMD kernels with every copy split over four threads. */
class SimdSplitCopyFromTest extends CopyFromTest {
    private static final CopyEngine ENGINE = CopyEngine.create(true, 4, 0);

    @Override
    CopyEngine engine() {
        return ENGINE;
    }
}
