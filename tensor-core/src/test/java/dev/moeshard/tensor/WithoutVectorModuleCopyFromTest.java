package dev.moeshard.tensor;

import dev.moeshard.tensor.copy.CopyEngine;
import org.junit.jupiter.api.Tag;

/**
 * {@link CopyFromTest} on the shared engine in a JVM started without the Vector API module (the surefire execution
 * "without-vector-module"), where the library must fall back to scalar code by itself.
 */
@Tag("no-flags")
class WithoutVectorModuleCopyFromTest extends CopyFromTest {
    @Override
    CopyEngine engine() {
        return CopyEngine.shared();
    }
}
