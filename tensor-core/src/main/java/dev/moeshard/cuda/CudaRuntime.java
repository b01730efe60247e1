package dev.moeshard.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * The libcudart functions moeshard calls, bound through the Foreign Function &amp; Memory API. Every call's status is
 * checked; a failure becomes a {@link CudaException} carrying {@code cudaGetErrorName} and
 * {@code cudaGetErrorString}. Obtain the instance through {@link Cuda#runtime()}.
 *
 * <p>Pointers to device memory are carried as {@link MemorySegment}s of size zero: addresses only, never
 * dereferenced on the host.
 */
public final class CudaRuntime {
    /** {@code cudaMemcpyKind}: the runtime infers the direction from unified virtual addresses. */
    static final int MEMCPY_DEFAULT = 4;
    /** {@code cudaStreamNonBlocking}: no implicit synchronisation with the legacy default stream. */
    static final int STREAM_NON_BLOCKING = 1;
    /** {@code cudaHostRegisterDefault}. */
    static final int HOST_REGISTER_DEFAULT = 0;
    /** {@code cudaDevAttrMultiProcessorCount}, {@code cudaDevAttrComputeCapabilityMajor}, {@code ...Minor}. */
    static final int ATTR_MULTIPROCESSORS = 16;
    static final int ATTR_CC_MAJOR = 75;
    static final int ATTR_CC_MINOR = 76;
    /** {@code struct dim3 { unsigned x, y, z; }}, passed by value to cudaLaunchKernel. */
    static final StructLayout DIM3 = MemoryLayout.structLayout(JAVA_INT.withName("x"), JAVA_INT.withName("y"),
            JAVA_INT.withName("z"));
    /** Bytes of {@code cudaDeviceProp} reserved for cudaGetDeviceProperties (the struct is about 1 KiB). */
    private static final long DEVICE_PROP_BYTES = 4096;

    private final String library;
    private final MethodHandle getErrorString;
    private final MethodHandle getErrorName;
    private final MethodHandle getDeviceCount;
    private final MethodHandle setDevice;
    private final MethodHandle driverGetVersion;
    private final MethodHandle runtimeGetVersion;
    private final MethodHandle deviceGetAttribute;
    private final MethodHandle getDeviceProperties;
    private final MethodHandle memGetInfo;
    private final MethodHandle malloc;
    private final MethodHandle free;
    private final MethodHandle mallocHost;
    private final MethodHandle freeHost;
    private final MethodHandle hostRegister;
    private final MethodHandle hostUnregister;
    private final MethodHandle memcpy;
    private final MethodHandle memcpyAsync;
    private final MethodHandle deviceSynchronize;
    private final MethodHandle streamCreateWithFlags;
    private final MethodHandle streamSynchronize;
    private final MethodHandle streamDestroy;
    private final MethodHandle eventCreate;
    private final MethodHandle eventRecord;
    private final MethodHandle eventSynchronize;
    private final MethodHandle eventElapsedTime;
    private final MethodHandle eventDestroy;
    private final MethodHandle libraryLoadData;
    private final MethodHandle libraryUnload;
    private final MethodHandle libraryGetKernel;
    private final MethodHandle launchKernel;

    CudaRuntime(SymbolLookup lookup, String library) {
        this.library = library;
        Binder b = new Binder(lookup);
        getErrorString = b.bind("cudaGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        getErrorName = b.bind("cudaGetErrorName", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        getDeviceCount = b.status("cudaGetDeviceCount", ADDRESS);
        setDevice = b.status("cudaSetDevice", JAVA_INT);
        driverGetVersion = b.status("cudaDriverGetVersion", ADDRESS);
        runtimeGetVersion = b.status("cudaRuntimeGetVersion", ADDRESS);
        deviceGetAttribute = b.status("cudaDeviceGetAttribute", ADDRESS, JAVA_INT, JAVA_INT);
        getDeviceProperties = b.status("cudaGetDeviceProperties", ADDRESS, JAVA_INT);
        memGetInfo = b.status("cudaMemGetInfo", ADDRESS, ADDRESS);
        malloc = b.status("cudaMalloc", ADDRESS, JAVA_LONG);
        free = b.status("cudaFree", ADDRESS);
        mallocHost = b.status("cudaMallocHost", ADDRESS, JAVA_LONG);
        freeHost = b.status("cudaFreeHost", ADDRESS);
        hostRegister = b.status("cudaHostRegister", ADDRESS, JAVA_LONG, JAVA_INT);
        hostUnregister = b.status("cudaHostUnregister", ADDRESS);
        memcpy = b.status("cudaMemcpy", ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT);
        memcpyAsync = b.status("cudaMemcpyAsync", ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS);
        deviceSynchronize = b.status("cudaDeviceSynchronize");
        streamCreateWithFlags = b.status("cudaStreamCreateWithFlags", ADDRESS, JAVA_INT);
        streamSynchronize = b.status("cudaStreamSynchronize", ADDRESS);
        streamDestroy = b.status("cudaStreamDestroy", ADDRESS);
        eventCreate = b.status("cudaEventCreate", ADDRESS);
        eventRecord = b.status("cudaEventRecord", ADDRESS, ADDRESS);
        eventSynchronize = b.status("cudaEventSynchronize", ADDRESS);
        eventElapsedTime = b.status("cudaEventElapsedTime", ADDRESS, ADDRESS, ADDRESS);
        eventDestroy = b.status("cudaEventDestroy", ADDRESS);
        libraryLoadData = b.status("cudaLibraryLoadData", ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS,
                ADDRESS, JAVA_INT);
        libraryUnload = b.status("cudaLibraryUnload", ADDRESS);
        libraryGetKernel = b.status("cudaLibraryGetKernel", ADDRESS, ADDRESS, ADDRESS);
        launchKernel = b.status("cudaLaunchKernel", ADDRESS, DIM3, DIM3, ADDRESS, JAVA_LONG, ADDRESS);
    }

    /** Where libcudart was loaded from. */
    public String library() {
        return library;
    }

    // ------------------------------------------------------------------------------------------------ devices

    public int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment count = a.allocate(JAVA_INT);
            check("cudaGetDeviceCount", call(() -> (int) getDeviceCount.invokeExact(count)));
            return count.get(JAVA_INT, 0);
        }
    }

    /** The device count, or the failing status without throwing (availability probing). */
    int probeDeviceCount(int[] status) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment count = a.allocate(JAVA_INT);
            status[0] = call(() -> (int) getDeviceCount.invokeExact(count));
            return status[0] == 0 ? count.get(JAVA_INT, 0) : 0;
        }
    }

    public void setDevice(int device) {
        check("cudaSetDevice", call(() -> (int) setDevice.invokeExact(device)));
    }

    public int driverVersion() {
        return intOut("cudaDriverGetVersion", driverGetVersion);
    }

    public int runtimeVersion() {
        return intOut("cudaRuntimeGetVersion", runtimeGetVersion);
    }

    public int deviceAttribute(int attribute, int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(JAVA_INT);
            check("cudaDeviceGetAttribute", call(() -> (int) deviceGetAttribute.invokeExact(value, attribute, device)));
            return value.get(JAVA_INT, 0);
        }
    }

    /** The device's name, e.g. "NVIDIA H100 80GB HBM3" (the first field of {@code cudaDeviceProp}). */
    public String deviceName(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment props = a.allocate(DEVICE_PROP_BYTES, 8);
            check("cudaGetDeviceProperties", call(() -> (int) getDeviceProperties.invokeExact(props, device)));
            return props.getString(0);
        }
    }

    /** {@code [free, total]} bytes of the current device. */
    public long[] memoryInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment freeBytes = a.allocate(JAVA_LONG);
            MemorySegment totalBytes = a.allocate(JAVA_LONG);
            check("cudaMemGetInfo", call(() -> (int) memGetInfo.invokeExact(freeBytes, totalBytes)));
            return new long[] {freeBytes.get(JAVA_LONG, 0), totalBytes.get(JAVA_LONG, 0)};
        }
    }

    public void deviceSynchronize() {
        check("cudaDeviceSynchronize", call(() -> (int) deviceSynchronize.invokeExact()));
    }

    // ------------------------------------------------------------------------------------------------ memory

    MemorySegment malloc(long bytes) {
        return pointerOut("cudaMalloc", p -> (int) malloc.invokeExact(p, bytes));
    }

    void free(MemorySegment pointer) {
        check("cudaFree", call(() -> (int) free.invokeExact(pointer)));
    }

    MemorySegment mallocHost(long bytes) {
        return pointerOut("cudaMallocHost", p -> (int) mallocHost.invokeExact(p, bytes)).reinterpret(bytes);
    }

    void freeHost(MemorySegment pointer) {
        check("cudaFreeHost", call(() -> (int) freeHost.invokeExact(pointer)));
    }

    void hostRegister(MemorySegment host) {
        long size = host.byteSize();
        check("cudaHostRegister", call(() -> (int) hostRegister.invokeExact(host, size, HOST_REGISTER_DEFAULT)));
    }

    void hostUnregister(MemorySegment host) {
        check("cudaHostUnregister", call(() -> (int) hostUnregister.invokeExact(host)));
    }

    /** A synchronous copy of {@code bytes} between any two addresses (host or device). */
    public void memcpy(MemorySegment dst, MemorySegment src, long bytes) {
        check("cudaMemcpy", call(() -> (int) memcpy.invokeExact(dst, src, bytes, MEMCPY_DEFAULT)));
    }

    /** An asynchronous copy on {@code stream}; host memory must be pinned for it to be truly asynchronous. */
    public void memcpyAsync(MemorySegment dst, MemorySegment src, long bytes, CudaStream stream) {
        MemorySegment s = stream.handle();
        check("cudaMemcpyAsync", call(() -> (int) memcpyAsync.invokeExact(dst, src, bytes, MEMCPY_DEFAULT, s)));
    }

    // ------------------------------------------------------------------------------------------------ streams, events

    MemorySegment streamCreate() {
        return pointerOut("cudaStreamCreateWithFlags", p -> (int) streamCreateWithFlags.invokeExact(p, STREAM_NON_BLOCKING));
    }

    void streamSynchronize(MemorySegment stream) {
        check("cudaStreamSynchronize", call(() -> (int) streamSynchronize.invokeExact(stream)));
    }

    void streamDestroy(MemorySegment stream) {
        check("cudaStreamDestroy", call(() -> (int) streamDestroy.invokeExact(stream)));
    }

    MemorySegment eventCreate() {
        return pointerOut("cudaEventCreate", p -> (int) eventCreate.invokeExact(p));
    }

    void eventRecord(MemorySegment event, MemorySegment stream) {
        check("cudaEventRecord", call(() -> (int) eventRecord.invokeExact(event, stream)));
    }

    void eventSynchronize(MemorySegment event) {
        check("cudaEventSynchronize", call(() -> (int) eventSynchronize.invokeExact(event)));
    }

    float eventElapsedMillis(MemorySegment start, MemorySegment end) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ms = a.allocate(JAVA_FLOAT);
            check("cudaEventElapsedTime", call(() -> (int) eventElapsedTime.invokeExact(ms, start, end)));
            return ms.get(JAVA_FLOAT, 0);
        }
    }

    void eventDestroy(MemorySegment event) {
        check("cudaEventDestroy", call(() -> (int) eventDestroy.invokeExact(event)));
    }

    // ------------------------------------------------------------------------------------------------ kernels

    /** Raw status of cudaLibraryLoadData: the caller adds the JIT log to the error. */
    int libraryLoadData(MemorySegment libraryOut, MemorySegment code, MemorySegment jitOptions,
                        MemorySegment jitValues, int jitCount) {
        return call(() -> (int) libraryLoadData.invokeExact(libraryOut, code, jitOptions, jitValues, jitCount,
                MemorySegment.NULL, MemorySegment.NULL, 0));
    }

    void libraryUnload(MemorySegment library) {
        check("cudaLibraryUnload", call(() -> (int) libraryUnload.invokeExact(library)));
    }

    MemorySegment libraryGetKernel(MemorySegment library, MemorySegment name) {
        return pointerOut("cudaLibraryGetKernel", p -> (int) libraryGetKernel.invokeExact(p, library, name));
    }

    void launchKernel(MemorySegment kernel, MemorySegment grid, MemorySegment block, MemorySegment args,
                      long sharedBytes, MemorySegment stream) {
        check("cudaLaunchKernel", call(() -> (int) launchKernel.invokeExact(kernel, grid, block, args, sharedBytes, stream)));
    }

    // ------------------------------------------------------------------------------------------------ plumbing

    /** Throws with the runtime's name and text for {@code status} unless it is cudaSuccess. */
    void check(String function, int status) {
        if (status != 0) {
            throw new CudaException(function, status, errorName(status), errorString(status));
        }
    }

    String errorString(int status) {
        try {
            return ((MemorySegment) getErrorString.invokeExact(status)).reinterpret(1024).getString(0);
        } catch (Throwable t) {
            return "(no error text: " + t + ")";
        }
    }

    private String errorName(int status) {
        try {
            return ((MemorySegment) getErrorName.invokeExact(status)).reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "cudaError " + status;
        }
    }

    private int intOut(String function, MethodHandle handle) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(JAVA_INT);
            check(function, call(() -> (int) handle.invokeExact(value)));
            return value.get(JAVA_INT, 0);
        }
    }

    private MemorySegment pointerOut(String function, PointerCall body) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check(function, call(() -> body.call(out)));
            return out.get(ADDRESS, 0);
        }
    }

    @FunctionalInterface
    private interface StatusCall {
        int call() throws Throwable;
    }

    @FunctionalInterface
    private interface PointerCall {
        int call(MemorySegment out) throws Throwable;
    }

    private static int call(StatusCall body) {
        try {
            return body.call();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("native call failed", t);
        }
    }

    /** Looks up each symbol once; a missing one fails the binding with its name. */
    private static final class Binder {
        private final SymbolLookup lookup;
        private final Linker linker = Linker.nativeLinker();

        Binder(SymbolLookup lookup) {
            this.lookup = lookup;
        }

        MethodHandle status(String name, MemoryLayout... args) {
            return bind(name, FunctionDescriptor.of(JAVA_INT, args));
        }

        MethodHandle bind(String name, FunctionDescriptor descriptor) {
            MemorySegment symbol = lookup.find(name).orElseThrow(
                    () -> new CudaException("libcudart has no symbol " + name + " (a CUDA 12 or newer runtime is needed)"));
            return linker.downcallHandle(symbol, descriptor);
        }
    }
}
