package dev.moeshard.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds the {@link DeviceCopies} provider once, on first use. The provider is loaded by name, reflectively, because
 * the tensor package must not import the cuda package (cuda imports tensor). Nothing here runs until a device tensor
 * is allocated or copied, and loading the provider does not touch libcudart: that happens inside the provider, on its
 * first real call, which is where a machine without CUDA gets {@code CudaUnavailableException} with the reasons.
 *
 * <p>Should the provider itself be missing (a trimmed class path), callers get a provider that refuses every call
 * with what went wrong, rather than a {@link NoClassDefFoundError} from deep inside a copy.
 */
final class DeviceCopiesLookup {
    static final String PROVIDER = "dev.moeshard.cuda.CudaDeviceCopies";

    private static final Logger LOG = LoggerFactory.getLogger(DeviceCopiesLookup.class);
    /** Set when this class is initialised, on the first call of {@link #provider()}; after LOG, which it uses. */
    private static final DeviceCopies INSTANCE = lookup();

    private DeviceCopiesLookup() {}

    /** The provider, looked up the first time this is called. */
    static DeviceCopies provider() {
        return INSTANCE;
    }

    private static DeviceCopies lookup() {
        try {
            Class<?> type = Class.forName(PROVIDER, true, DeviceCopiesLookup.class.getClassLoader());
            return type.asSubclass(DeviceCopies.class).getConstructor().newInstance();
        } catch (ReflectiveOperationException | LinkageError | ClassCastException e) {
            String reason = "the device copy provider " + PROVIDER + " could not be loaded (" + e + ")";
            LOG.debug("{}", reason);
            return new Missing(reason);
        }
    }

    /** Stands in for a provider that could not be loaded, and says why on every call. */
    private record Missing(String reason) implements DeviceCopies {
        @Override
        public MemorySegment allocate(Device device, long bytes, Arena arena) {
            throw refused(device.toString());
        }

        @Override
        public void copy(Tensor dst, Tensor src) {
            throw refused(src.device() + " to " + dst.device());
        }

        @Override
        public void copyAll(List<Tensor> dsts, List<Tensor> srcs) {
            throw refused("a batch of " + dsts.size() + " copies");
        }

        private UnsupportedOperationException refused(String what) {
            return new UnsupportedOperationException("CUDA is not available for " + what + ": " + reason);
        }
    }
}
