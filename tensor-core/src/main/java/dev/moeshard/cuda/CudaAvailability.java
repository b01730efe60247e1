package dev.moeshard.cuda;

import java.util.List;

/**
 * Whether CUDA can be used in this process, and why not: no libcudart found, no driver, no device.
 *
 * @param available   true when a device can be used
 * @param reasons     why it cannot (empty when available); each names what was tried
 * @param deviceCount devices the runtime reports (0 when unavailable)
 * @param runtimeVersion the libcudart version as the runtime encodes it (1000 × major + 10 × minor), or 0
 * @param driverVersion  the CUDA version the driver supports, same encoding, or 0 without a driver
 * @param library     where libcudart was found, or empty
 */
public record CudaAvailability(boolean available, List<String> reasons, int deviceCount, int runtimeVersion,
                               int driverVersion, String library) {

    public CudaAvailability {
        reasons = List.copyOf(reasons);
    }

    /** Throws {@link CudaUnavailableException} with the reasons unless CUDA is available. */
    public void require() {
        if (!available) {
            throw new CudaUnavailableException(reasons);
        }
    }

    /** One line for logs and the CLI. */
    public String describe() {
        if (available) {
            return deviceCount + " CUDA device(s), runtime " + version(runtimeVersion) + ", driver supports "
                    + version(driverVersion) + " (" + library + ")";
        }
        return "CUDA unavailable: " + String.join("; ", reasons);
    }

    private static String version(int encoded) {
        return (encoded / 1000) + "." + (encoded % 1000) / 10;
    }
}
