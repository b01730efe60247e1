package dev.moeshard.cuda;

import dev.moeshard.tensor.NativeAccess;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The way in to CUDA. Nothing here touches libcudart until {@link #availability()} or {@link #runtime()} is first
 * called, so a machine without CUDA never loads it; there, both say why, and {@link #runtime()} throws
 * {@link CudaUnavailableException} with the reasons.
 */
public final class Cuda {
    private static final Logger LOG = LoggerFactory.getLogger(Cuda.class);

    private Cuda() {}

    /** Whether a CUDA device can be used, and if not, why (probed once). */
    public static CudaAvailability availability() {
        return Probe.RESULT.availability;
    }

    /** The bound runtime, for a process where {@link #availability()} says CUDA is available. */
    public static CudaRuntime runtime() {
        Probe probe = Probe.RESULT;
        probe.availability.require();
        return probe.runtime;
    }

    private static final class Probe {
        static final Probe RESULT = run();

        final CudaAvailability availability;
        final CudaRuntime runtime;

        Probe(CudaAvailability availability, CudaRuntime runtime) {
            this.availability = availability;
            this.runtime = runtime;
        }

        private static Probe run() {
            List<String> reasons = new ArrayList<>();
            if (!NativeAccess.enabled()) {
                reasons.add(NativeAccess.howToEnable());
                return unavailable(reasons, 0, 0, "");
            }
            CudaLibraryLocator.Found found = CudaLibraryLocator.locate(reasons);
            if (found == null) {
                return unavailable(reasons, 0, 0, "");
            }
            CudaRuntime runtime;
            try {
                runtime = new CudaRuntime(found.lookup(), found.name());
            } catch (RuntimeException e) {
                reasons.add(found.name() + " could not be bound: " + e.getMessage());
                return unavailable(reasons, 0, 0, found.name());
            }
            int runtimeVersion = safe(runtime::runtimeVersion);
            int driverVersion = safe(runtime::driverVersion);
            if (driverVersion == 0) {
                reasons.add("no NVIDIA driver is installed (cudaDriverGetVersion reports none)");
                return unavailable(reasons, runtimeVersion, driverVersion, found.name());
            }
            int[] status = new int[1];
            int devices = runtime.probeDeviceCount(status);
            if (status[0] != 0) {
                reasons.add("cudaGetDeviceCount: " + runtime.errorString(status[0]) + " (" + status[0] + ")");
            } else if (devices == 0) {
                reasons.add("the driver reports no CUDA device");
            }
            if (!reasons.isEmpty()) {
                return unavailable(reasons, runtimeVersion, driverVersion, found.name());
            }
            CudaAvailability ok = new CudaAvailability(true, List.of(), devices, runtimeVersion, driverVersion, found.name());
            LOG.info("{}", ok.describe());
            return new Probe(ok, runtime);
        }

        private static Probe unavailable(List<String> reasons, int runtimeVersion, int driverVersion, String library) {
            CudaAvailability a = new CudaAvailability(false, reasons, 0, runtimeVersion, driverVersion, library);
            LOG.debug("{}", a.describe());
            return new Probe(a, null);
        }

        private static int safe(IntSupplier call) {
            try {
                return call.getAsInt();
            } catch (RuntimeException e) {
                return 0;
            }
        }
    }
}
