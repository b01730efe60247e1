package dev.moeshard.cli;

import dev.moeshard.tensor.copy.CopyEngine;
import picocli.CommandLine.Option;

/**
 * How a command's copies run: on which device and on how many threads. Mixed into the commands that move tensor
 * data, so that they all read these options the same way.
 */
final class CopyOptions {
    @Option(names = "--threads", paramLabel = "N",
            description = "Threads for the copies (default: every processor, or -Dmoeshard.threads).")
    Integer threads;

    @Option(names = "--device", paramLabel = "cpu|cuda|auto", defaultValue = "auto",
            description = "Where the copies run (default: ${DEFAULT-VALUE}; auto is the CPU in this build).")
    String device;

    /** The engine for these options; fails with exit code 5 when CUDA is asked for. */
    CopyEngine engine() {
        switch (device) {
            case "cpu", "auto" -> { }
            // Asked for by name, a missing device is an error: silently running on the CPU would hide it.
            case "cuda" -> throw new DeviceMissingException("--device cuda: CUDA support is not available in this build;"
                    + " use --device cpu or auto");
            default -> throw new UsageException("--device must be cpu, cuda or auto, got '" + device + "'");
        }
        if (threads == null) {
            return CopyEngine.shared();
        }
        if (threads < 1) {
            throw new UsageException("--threads must be at least 1, got " + threads);
        }
        return CopyEngine.shared().withThreads(threads);
    }
}
