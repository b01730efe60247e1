package dev.moeshard.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * PTX loaded into the current context through the runtime's library API (cudaLibraryLoadData), with its kernels
 * looked up by name and launched through cudaLaunchKernel. The PTX is JIT-compiled for the device at load; when
 * that fails, the error carries the JIT's own log.
 */
public final class CudaModule implements AutoCloseable {
    private static final int JIT_INFO_LOG = 3;
    private static final int JIT_INFO_LOG_SIZE = 4;
    private static final int JIT_ERROR_LOG = 5;
    private static final int JIT_ERROR_LOG_SIZE = 6;
    private static final int LOG_BYTES = 16 * 1024;

    private final CudaRuntime cuda;
    private final MemorySegment library;
    private final String name;
    private final Map<String, MemorySegment> kernels = new HashMap<>();

    private CudaModule(CudaRuntime cuda, MemorySegment library, String name) {
        this.cuda = cuda;
        this.library = library;
        this.name = name;
    }

    /** Loads the PTX resource at {@code resourcePath} (on this library's class path). */
    public static CudaModule loadResource(String resourcePath) {
        byte[] ptx;
        try (InputStream in = CudaModule.class.getResourceAsStream(resourcePath)) {
            if (in == null) {
                throw new IllegalStateException("PTX resource " + resourcePath + " is missing from the class path");
            }
            ptx = in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read PTX resource " + resourcePath, e);
        }
        return load(ptx, resourcePath);
    }

    /** Loads PTX text (NUL-terminated here); {@code name} is used in messages. */
    public static CudaModule load(byte[] ptx, String name) {
        CudaRuntime cuda = Cuda.runtime();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment code = arena.allocate(ptx.length + 1L);
            MemorySegment.copy(ptx, 0, code, JAVA_BYTE, 0, ptx.length);
            MemorySegment infoLog = arena.allocate(LOG_BYTES);
            MemorySegment errorLog = arena.allocate(LOG_BYTES);
            MemorySegment options = arena.allocateFrom(JAVA_INT, JIT_INFO_LOG, JIT_INFO_LOG_SIZE, JIT_ERROR_LOG,
                    JIT_ERROR_LOG_SIZE);
            MemorySegment values = arena.allocate(ADDRESS, 4);
            values.setAtIndex(ADDRESS, 0, infoLog);
            values.setAtIndex(ADDRESS, 1, MemorySegment.ofAddress(LOG_BYTES));
            values.setAtIndex(ADDRESS, 2, errorLog);
            values.setAtIndex(ADDRESS, 3, MemorySegment.ofAddress(LOG_BYTES));
            MemorySegment libraryOut = arena.allocate(ADDRESS);
            int status = cuda.libraryLoadData(libraryOut, code, options, values, 4);
            if (status != 0) {
                try {
                    cuda.check("cudaLibraryLoadData(" + name + ")", status);
                } catch (CudaException e) {
                    throw new CudaException(e.getMessage() + "; JIT error log: " + errorLog.getString(0).strip()
                            + "; JIT info log: " + infoLog.getString(0).strip());
                }
            }
            return new CudaModule(cuda, libraryOut.get(ADDRESS, 0), name);
        }
    }

    /** The kernel {@code kernelName}, looked up once. */
    public synchronized MemorySegment kernel(String kernelName) {
        return kernels.computeIfAbsent(kernelName, k -> {
            try (Arena arena = Arena.ofConfined()) {
                return cuda.libraryGetKernel(library, arena.allocateFrom(k));
            } catch (CudaException e) {
                throw new CudaException("kernel " + k + " not found in " + name + ": " + e.getMessage());
            }
        });
    }

    /**
     * Launches {@code kernelName} on {@code stream}. Each argument is a segment holding the argument's bytes as the
     * kernel's C signature lays them out (a pointer, a 64-bit integer, a struct passed by value).
     */
    public void launch(String kernelName, Dim3 grid, Dim3 block, CudaStream stream, MemorySegment... arguments) {
        MemorySegment kernel = kernel(kernelName);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment argv = arena.allocate(ADDRESS, arguments.length);
            for (int i = 0; i < arguments.length; i++) {
                argv.setAtIndex(ADDRESS, i, arguments[i]);
            }
            cuda.launchKernel(kernel, grid.toSegment(arena), block.toSegment(arena), argv, 0, stream.handle());
        }
    }

    @Override
    public void close() {
        cuda.libraryUnload(library);
    }

    /** Grid or block dimensions, as CUDA's {@code dim3}. */
    public record Dim3(int x, int y, int z) {
        public Dim3 {
            if (x < 1 || y < 1 || z < 1) {
                throw new IllegalArgumentException("CUDA dimensions must be positive: " + x + "×" + y + "×" + z);
            }
        }

        MemorySegment toSegment(Arena arena) {
            MemorySegment s = arena.allocate(CudaRuntime.DIM3);
            s.set(JAVA_INT, 0, x);
            s.set(JAVA_INT, 4, y);
            s.set(JAVA_INT, 8, z);
            return s;
        }
    }
}
