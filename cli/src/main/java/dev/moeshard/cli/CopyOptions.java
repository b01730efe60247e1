package dev.moeshard.cli;

import dev.moeshard.cuda.Cuda;
import dev.moeshard.cuda.CudaAvailability;
import dev.moeshard.tensor.Device;
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
            description = "Where the expert copies run (default: ${DEFAULT-VALUE}: CUDA when a device is usable, else "
                    + "the CPU; cuda:N picks a device).")
    String device;

    /**
     * Where the copies of a layer's experts run. {@code --device cuda} where CUDA cannot be used fails with exit
     * code 5 and the reasons: asked for by name, a missing device must not silently become the CPU.
     */
    LayerCopies layerCopies() {
        Device target = switch (device) {
            case "cpu" -> Device.CPU;
            case "auto" -> Cuda.availability().available() ? Device.cuda(0) : Device.CPU;
            default -> parseCuda();
        };
        if (!target.isCpu()) {
            CudaAvailability availability = Cuda.availability();
            if (!availability.available()) {
                throw new DeviceMissingException("--device " + device + ": " + availability.describe());
            }
            return LayerCopies.onDevice(target);
        }
        return LayerCopies.onCpu();
    }

    private Device parseCuda() {
        try {
            Device d = Device.parse(device);
            if (d.isCpu()) {
                throw new IllegalArgumentException(device);
            }
            return d;
        } catch (IllegalArgumentException e) {
            throw new UsageException("--device must be cpu, cuda, cuda:N or auto, got '" + device + "'");
        }
    }

    /**
     * The CPU engine for these options. Commands without a GPU path (to-hf, verify, regrouping) still refuse
     * {@code --device cuda} where CUDA is missing, with exit code 5, rather than ignore it.
     */
    CopyEngine engine() {
        if (!device.equals("cpu") && !device.equals("auto")) {
            parseCuda();
            CudaAvailability availability = Cuda.availability();
            if (!availability.available()) {
                throw new DeviceMissingException("--device " + device + ": " + availability.describe());
            }
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
