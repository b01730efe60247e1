package dev.moeshard.safetensors;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.moeshard.tensor.NativeAccess;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Reserves a new output file's blocks up front with Linux's {@code fallocate}, reached through the Foreign Function
 * &amp; Memory API. Not {@code posix_fallocate}: where a file system lacks the call, glibc's version falls back to
 * writing every block, which for a multi-GB file would cost more than it saves.
 *
 * <p>A file written through a memory mapping otherwise starts sparse, and on ext4-like file systems every first
 * write to a page faults into the kernel to allocate its block: for a multi-GB checkpoint that is over a million
 * faults, and most of the conversion's time. With the blocks reserved, the faults are cheap. Best effort: where
 * libc or the call is unavailable, or the file system refuses (tmpfs and others may), the file stays sparse and
 * everything still works, only slower. Skipped quietly where native access was not granted ({@link NativeAccess}).
 */
final class FilePreallocation {
    private static final int O_WRONLY = 1;
    private static final Optional<Calls> CALLS = bind();

    private record Calls(MethodHandle open, MethodHandle fallocate, MethodHandle close) {}

    private FilePreallocation() {}

    /** Reserves {@code bytes} for the existing file {@code path}; returns whether it was done. */
    static boolean reserve(Path path, long bytes) {
        if (CALLS.isEmpty() || bytes <= 0) {
            return false;
        }
        Calls c = CALLS.get();
        try (Arena arena = Arena.ofConfined()) {
            int fd = (int) c.open().invokeExact(arena.allocateFrom(path.toString()), O_WRONLY);
            if (fd < 0) {
                return false;
            }
            try {
                return (int) c.fallocate().invokeExact(fd, 0, 0L, bytes) == 0;
            } finally {
                int ignored = (int) c.close().invokeExact(fd);
            }
        } catch (Throwable t) {
            return false;
        }
    }

    private static Optional<Calls> bind() {
        if (!NativeAccess.enabled()) {
            return Optional.empty(); // binding would make the JVM print a warning on the user's terminal
        }
        try {
            Linker linker = Linker.nativeLinker();
            var libc = linker.defaultLookup();
            MemorySegment open = libc.find("open").orElseThrow();
            MemorySegment fallocate = libc.find("fallocate").orElseThrow();
            MemorySegment close = libc.find("close").orElseThrow();
            return Optional.of(new Calls(
                    linker.downcallHandle(open, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT),
                            Linker.Option.firstVariadicArg(2)),
                    linker.downcallHandle(fallocate, FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG)),
                    linker.downcallHandle(close, FunctionDescriptor.of(JAVA_INT, JAVA_INT))));
        } catch (RuntimeException | LinkageError e) {
            return Optional.empty();
        }
    }
}
