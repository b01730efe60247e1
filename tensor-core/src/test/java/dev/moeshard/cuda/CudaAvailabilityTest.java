package dev.moeshard.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Asking for CUDA says clearly whether it can be had, and why not; it never crashes the JVM. */
@Tag("no-flags")
class CudaAvailabilityTest {

    @Test
    void availabilityIsDecidedWithReasons() {
        CudaAvailability a = Cuda.availability();
        System.out.println("CUDA: " + a.describe());
        if (a.available()) {
            assertTrue(a.deviceCount() > 0);
            assertTrue(a.reasons().isEmpty());
        } else {
            assertFalse(a.reasons().isEmpty(), "an unavailable CUDA must say why");
            assertTrue(a.describe().startsWith("CUDA unavailable: "), a.describe());
        }
    }

    @Test
    void deviceTensorsWhereThereIsNoCudaFailWithTheReasons() {
        CudaAvailability a = Cuda.availability();
        if (a.available()) {
            return; // covered by GpuCopyTest on machines with a GPU
        }
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class,
                () -> Tensor.allocate(Device.cuda(0), DType.BF16, 4, 4));
        assertTrue(e.getMessage().contains(a.reasons().get(0)), e.getMessage());
        CudaUnavailableException copy = assertThrows(CudaUnavailableException.class, Cuda::runtime);
        assertFalse(copy.reasons().isEmpty());
    }

    @Test
    void hostOnlyOperationsOnADeviceTensorAreRefusedWithoutTouchingIt() {
        // Device tensors can be described without CUDA: a wrapped address is never dereferenced.
        Tensor t = Tensor.wrapDevice(java.lang.foreign.MemorySegment.ofAddress(1 << 20).reinterpret(32), Device.cuda(0),
                DType.F32, 2, 4);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> t.getBits(0, 0));
        assertTrue(e.getMessage().contains("cuda:0"), e.getMessage());
        assertThrows(IllegalStateException.class, t::segment);
        assertTrue(t.t().device().equals(Device.cuda(0)), "views stay on the device");
    }
}
