package dev.moeshard.convert;

import dev.moeshard.tensor.copy.CopyEngine;

/** The CPU copy engine for a thread count, 0 meaning the shared engine's default. */
final class CopyEngines {
    private CopyEngines() {}

    static CopyEngine of(int threads) {
        return threads == 0 ? CopyEngine.shared() : CopyEngine.shared().withThreads(threads);
    }
}
