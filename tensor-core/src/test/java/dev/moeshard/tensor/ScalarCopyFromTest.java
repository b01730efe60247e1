package dev.moeshard.tensor;

import dev.moeshard.tensor.copy.CopyEngine;

/** {@link CopyFromTest} on the scalar kernels on one thread. */
class ScalarCopyFromTest extends CopyFromTest {
    private static final CopyEngine ENGINE = CopyEngine.create(false, 1, CopyEngine.PARALLEL_THRESHOLD_BYTES);

    @Override
    CopyEngine engine() {
        return ENGINE;
    }
}
