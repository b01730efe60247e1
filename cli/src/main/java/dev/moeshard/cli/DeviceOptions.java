package dev.moeshard.cli;

import dev.moeshard.convert.UsageException;
import dev.moeshard.tensor.Device;
import picocli.CommandLine.Option;

/** {@code --device} and {@code --threads}, read the same way by every command that moves tensor data. */
final class DeviceOptions {
    @Option(names = "--threads", paramLabel = "N",
            description = "Threads for the copies (default: every processor, or -Dmoeshard.threads).")
    Integer threads;

    @Option(names = "--device", paramLabel = "cpu|cuda|auto", defaultValue = "auto",
            description = "Where the expert copies run (default: ${DEFAULT-VALUE}: the CPU, faster for a file-to-file "
                    + "job than the CUDA path today; cuda or cuda:N runs them on a GPU).")
    String device;

    /** The device named, or null for auto. */
    Device device() {
        if (device.equals("auto")) {
            return null;
        }
        try {
            return Device.parse(device);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--device must be cpu, cuda, cuda:N or auto, got '" + device + "'");
        }
    }

    /** The thread count, 0 for the default. */
    int threads() {
        if (threads == null) {
            return 0;
        }
        if (threads < 1) {
            throw new UsageException("--threads must be at least 1, got " + threads);
        }
        return threads;
    }
}
