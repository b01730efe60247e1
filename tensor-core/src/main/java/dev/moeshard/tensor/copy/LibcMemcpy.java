package dev.moeshard.tensor.copy;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.moeshard.tensor.NativeAccess;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Objects;
import java.util.Optional;

/**
 * The C library's {@code memcpy}, reached through the Foreign Function &amp; Memory API: a yardstick for the
 * benchmarks, never used by a conversion.
 *
 * <p>Performance targets are stated as ratios to "a memcpy of the same bytes". The engine's own contiguous copy
 * ({@link MemorySegment#copy}, through the JVM's copy stubs) is one such yardstick; this is the other, the one the
 * phrase names. They differ by machine: on an AMD EPYC VM the JVM's copy of a 1.2 GB buffer ran at 1.15–1.19 × the
 * C library's, so a benchmark reports its ratio to both.
 */
public final class LibcMemcpy {
    private static final Optional<LibcMemcpy> FOUND = bind();

    private final MethodHandle memcpy;

    private LibcMemcpy(MethodHandle memcpy) {
        this.memcpy = memcpy;
    }

    /** The C library's memcpy, or empty where the platform's linker cannot reach it. */
    public static Optional<LibcMemcpy> find() {
        return FOUND;
    }

    /** Copies {@code bytes} from the start of {@code from} to the start of {@code to}, which must not overlap. */
    public void copy(MemorySegment to, MemorySegment from, long bytes) {
        Objects.checkFromIndexSize(0, bytes, to.byteSize());
        Objects.checkFromIndexSize(0, bytes, from.byteSize());
        if (!to.isNative() || !from.isNative()) {
            throw new IllegalArgumentException("memcpy needs native segments");
        }
        try {
            MemorySegment ignored = (MemorySegment) memcpy.invokeExact(to, from, bytes);
        } catch (Throwable t) {
            throw new IllegalStateException("memcpy through the C library failed", t);
        }
    }

    private static Optional<LibcMemcpy> bind() {
        if (!NativeAccess.enabled()) {
            return Optional.empty();
        }
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("memcpy").map(address -> new LibcMemcpy(linker.downcallHandle(address,
                    FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG))));
        } catch (RuntimeException | LinkageError e) {
            return Optional.empty();
        }
    }
}
