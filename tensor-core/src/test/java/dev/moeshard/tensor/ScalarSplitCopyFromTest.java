package dev.moeshard.tensor;

import dev.moeshard.tensor.copy.CopyEngine;

/** {@link CopyFromTest} on the scalar kernels with every copy split over three threads. */
class ScalarSplitCopyFromTest extends CopyFromTest {
    private static final CopyEngine ENGINE = CopyEngine.create(false, 3, 0);

    @Override
    CopyEngine engine() {
        return ENGINE;
    }
}
