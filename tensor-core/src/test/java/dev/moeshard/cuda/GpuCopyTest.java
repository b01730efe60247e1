package dev.moeshard.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.TensorOps;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * GPU copies give exactly the CPU engine's bytes. Runs where a CUDA device is available; elsewhere each test is
 * skipped with the reasons CUDA is unavailable.
 */
class GpuCopyTest {
    private static final Device GPU = Device.cuda(0);
    private static final DType[] WIDTHS = {DType.U8, DType.BF16, DType.F32, DType.F64};

    @BeforeEach
    void requireCuda() {
        CudaAvailability a = Cuda.availability();
        assumeTrue(a.available(), () -> a.describe());
    }

    @Test
    void uploadAndDownloadAreByteExactAcrossStagingChunks() {
        // More chunks than slots, so that every slot is refilled after its transfer, and a ragged last chunk.
        PinnedStaging staging = CudaCopies.context(GPU).staging;
        long manyChunks = staging.chunkBytes() * (2L * staging.slots() + 1) + 12345;
        for (DType dtype : WIDTHS) {
            for (long n : new long[] {0, 1, 7, 1000, manyChunks / dtype.byteSize()}) {
                Tensor host = random(dtype, 11 + n, n);
                Tensor back = host.to(GPU).to(Device.CPU);
                assertSameBytes(host, back, dtype + " x " + n);
            }
        }
    }

    @Test
    void stridedCopiesOnTheDeviceMatchTheCpuEngine() {
        SplittableRandom r = new SplittableRandom(7);
        for (DType dtype : WIDTHS) {
            for (int c = 0; c < 30; c++) {
                long a = 1 + r.nextInt(70);
                long b = 1 + r.nextInt(70);
                long e = 1 + r.nextInt(4);
                Tensor host = random(dtype, c, e, a, b);
                Tensor device = host.to(GPU);
                // transposes, slices with a step, and a gather (both strided)
                assertSameBytes(host.transpose(1, 2).contiguousCopy(), device.transpose(1, 2).contiguousCopy().to(Device.CPU),
                        dtype + " transpose " + e + "x" + a + "x" + b);
                assertSameBytes(host.slice(2, 0, b, 2).contiguousCopy(), device.slice(2, 0, b, 2).contiguousCopy().to(Device.CPU),
                        dtype + " step-2 slice");
                assertSameBytes(host.permute(2, 0, 1).slice(0, 0, b, 3).contiguousCopy(),
                        device.permute(2, 0, 1).slice(0, 0, b, 3).contiguousCopy().to(Device.CPU), dtype + " permuted gather");
            }
        }
    }

    @Test
    void hostTransposedViewsUploadIntoStridedDeviceViews() {
        for (DType dtype : WIDTHS) {
            long e = 3;
            long h = 96;
            long i = 40;
            Tensor cpuGrouped = Tensor.allocate(dtype, e, h, 2 * i);
            Tensor gpuGrouped = Tensor.allocate(GPU, dtype, e, h, 2 * i);
            gpuGrouped.copyFrom(cpuGrouped); // zeros, as the CPU one starts
            for (int x = 0; x < e; x++) {
                Tensor gate = random(dtype, 100 + x, i, h);
                Tensor up = random(dtype, 200 + x, i, h);
                cpuGrouped.select(0, x).narrow(1, 0, i).copyFrom(gate.t());
                cpuGrouped.select(0, x).narrow(1, i, i).copyFrom(up.t());
                gpuGrouped.select(0, x).narrow(1, 0, i).copyFrom(gate.t());
                gpuGrouped.select(0, x).narrow(1, i, i).copyFrom(up.t());
            }
            assertSameBytes(cpuGrouped, gpuGrouped.to(Device.CPU), dtype + " merge through host views");
        }
    }

    @Test
    void batchedMergeOnTheDeviceMatchesTheCpuMerge() {
        // Odd sizes take the 32×32 (or packed) tiles; whole 64×64 tiles with aligned rows take the 16-byte kernel.
        batchedMerge(9, 130, 66, false);
        batchedMerge(5, 256, 192, false);
    }

    /** The same merges with each grouped slot viewed as the expert is shaped, as the library's grouping writes them. */
    @Test
    void batchedMergeIntoSlotsViewedInHfOrientationMatchesTheCpuMerge() {
        batchedMerge(9, 130, 66, true);
        batchedMerge(5, 256, 192, true);
    }

    @Test
    void hostExpertsPackedIntoManyStagingChunksMergeByteExact() {
        // Odd-sized host sources packed back to back through more chunks than the ring has slots: pieces of one
        // tensor straddle chunk boundaries and every slot is refilled.
        PinnedStaging staging = CudaCopies.context(GPU).staging;
        long h = 1201;
        long i = 300;
        long expertBytes = 3 * h * i * DType.BF16.byteSize();
        int experts = (int) Math.ceilDiv(staging.chunkBytes() * (2L * staging.slots() + 1), expertBytes);
        List<Tensor> gates = new ArrayList<>();
        List<Tensor> ups = new ArrayList<>();
        List<Tensor> downs = new ArrayList<>();
        for (int x = 0; x < experts; x++) {
            gates.add(random(DType.BF16, 500 + x, i, h));
            ups.add(random(DType.BF16, 600 + x, i, h));
            downs.add(random(DType.BF16, 700 + x, h, i));
        }
        Tensor gu = Tensor.allocate(GPU, DType.BF16, experts, h, 2 * i);
        Tensor dn = Tensor.allocate(GPU, DType.BF16, experts, i, h);
        Tensor cpuGu = Tensor.allocate(DType.BF16, experts, h, 2 * i);
        Tensor cpuDn = Tensor.allocate(DType.BF16, experts, i, h);
        List<Tensor> dsts = new ArrayList<>();
        List<Tensor> srcs = new ArrayList<>();
        for (int x = 0; x < experts; x++) {
            addMergeCopies(dsts, srcs, gu, dn, x, gates.get(x), ups.get(x), downs.get(x), false);
            cpuGu.select(0, x).narrow(1, 0, i).copyFrom(gates.get(x).t());
            cpuGu.select(0, x).narrow(1, i, i).copyFrom(ups.get(x).t());
            cpuDn.select(0, x).copyFrom(downs.get(x).t());
        }
        TensorOps.copyAll(dsts, srcs);
        assertSameBytes(cpuGu, gu.to(Device.CPU), experts + " host experts, gate/up");
        assertSameBytes(cpuDn, dn.to(Device.CPU), experts + " host experts, down");
    }

    /**
     * Expert {@code x}'s copies of a DeepEP merge: gate and up [I, H] transposed into columns [0, I) and [I, 2I) of
     * {@code gu[x]} [H, 2I], down [H, I] transposed into {@code dn[x]} [I, H]. With {@code slotsInHfOrientation}
     * each slot is viewed transposed, as the expert is shaped, and written from the expert itself: the same copies.
     */
    private static void addMergeCopies(List<Tensor> dsts, List<Tensor> srcs, Tensor gu, Tensor dn, int x,
                                       Tensor gate, Tensor up, Tensor down, boolean slotsInHfOrientation) {
        long i = gate.size(0);
        Tensor[] slots = {gu.select(0, x).narrow(1, 0, i), gu.select(0, x).narrow(1, i, i), dn.select(0, x)};
        Tensor[] experts = {gate, up, down};
        for (int k = 0; k < 3; k++) {
            dsts.add(slotsInHfOrientation ? slots[k].t() : slots[k]);
            srcs.add(slotsInHfOrientation ? experts[k] : experts[k].t());
        }
    }

    private static void batchedMerge(int experts, long h, long i, boolean slotsInHfOrientation) {
        for (DType dtype : WIDTHS) {
            List<Tensor> gates = new ArrayList<>();
            List<Tensor> downs = new ArrayList<>();
            for (int x = 0; x < experts; x++) {
                gates.add(random(dtype, 300 + x, i, h).to(GPU));
                downs.add(random(dtype, 400 + x, h, i).to(GPU));
            }
            Tensor gu = Tensor.allocate(GPU, dtype, experts, h, 2 * i);
            Tensor dn = Tensor.allocate(GPU, dtype, experts, i, h);
            List<Tensor> dsts = new ArrayList<>();
            List<Tensor> srcs = new ArrayList<>();
            for (int x = 0; x < experts; x++) {
                addMergeCopies(dsts, srcs, gu, dn, x, gates.get(x), gates.get(x), downs.get(x), slotsInHfOrientation);
            }
            TensorOps.copyAll(dsts, srcs);
            Tensor cpuGu = Tensor.allocate(dtype, experts, h, 2 * i);
            Tensor cpuDn = Tensor.allocate(dtype, experts, i, h);
            for (int x = 0; x < experts; x++) {
                Tensor gate = gates.get(x).to(Device.CPU);
                cpuGu.select(0, x).narrow(1, 0, i).copyFrom(gate.t());
                cpuGu.select(0, x).narrow(1, i, i).copyFrom(gate.t());
                cpuDn.select(0, x).copyFrom(downs.get(x).to(Device.CPU).t());
            }
            assertSameBytes(cpuGu, gu.to(Device.CPU), dtype + " batched gate/up");
            assertSameBytes(cpuDn, dn.to(Device.CPU), dtype + " batched down");
        }
    }

    @Test
    void conversionHappensOnTheHostSide() {
        Tensor f32 = Tensor.allocate(DType.F32, 33, 17);
        for (int a = 0; a < 33; a++) {
            for (int b = 0; b < 17; b++) {
                f32.setDouble(a * 0.37 - b * 1.1, a, b);
            }
        }
        Tensor onDevice = Tensor.allocate(GPU, DType.BF16, 17, 33).copyFrom(f32.t());
        assertSameBytes(Tensor.allocate(DType.BF16, 17, 33).copyFrom(f32.t()), onDevice.to(Device.CPU), "F32 -> BF16 upload");
        assertThrows(UnsupportedOperationException.class, () -> Tensor.allocate(GPU, DType.F32, 17, 33).copyFrom(onDevice));
    }

    @Test
    void deviceInformationIsReadable() {
        CudaRuntime cuda = Cuda.runtime();
        String name = cuda.deviceName(0);
        long[] memory = cuda.memoryInfo();
        System.out.println("device 0: " + name + ", " + memory[0] / (1 << 20) + " of " + memory[1] / (1 << 20)
                + " MiB free, " + cuda.deviceAttribute(CudaRuntime.ATTR_MULTIPROCESSORS, 0) + " SMs");
        assertEquals(true, !name.isBlank() && memory[1] > 0 && memory[0] <= memory[1]);
        try (PinnedBuffer pinned = PinnedBuffer.allocate(1 << 20); DeviceBuffer device = DeviceBuffer.allocate(1 << 20);
             CudaStream stream = CudaStream.create(); CudaEvent start = CudaEvent.create(); CudaEvent end = CudaEvent.create()) {
            pinned.memory().fill((byte) 0x5A);
            start.record(stream);
            cuda.memcpyAsync(device.pointer(), pinned.memory(), 1 << 20, stream);
            end.record(stream);
            end.synchronize();
            assertEquals(true, end.millisSince(start) >= 0);
            CudaException bad = assertThrows(CudaException.class, () -> DeviceBuffer.allocate(1L << 60));
            assertEquals(true, bad.getMessage().contains("cudaMalloc") && bad.status() != 0, bad.getMessage());
        }
    }

    @Test
    void registeredHostMemoryMovesByDmaAndIsReleased() {
        CudaRuntime cuda = Cuda.runtime();
        Tensor host = random(DType.U8, 99, 3 << 20);
        Tensor back = Tensor.allocate(DType.U8, 3 << 20);
        try (HostRegistration registered = HostRegistration.register(host.segment());
             DeviceBuffer device = DeviceBuffer.allocate(3 << 20); CudaStream stream = CudaStream.create()) {
            cuda.memcpyAsync(device.pointer(), registered.memory(), 3 << 20, stream);
            stream.synchronize();
            cuda.memcpy(back.segment(), device.pointer(), 3 << 20);
        }
        assertSameBytes(host, back, "through registered memory");
        assertThrows(IllegalArgumentException.class,
                () -> HostRegistration.register(MemorySegment.ofArray(new byte[16])), "heap memory cannot be registered");
    }

    static Tensor random(DType dtype, long seed, long... sizes) {
        Tensor t = Tensor.allocate(dtype, sizes);
        SplittableRandom r = new SplittableRandom(seed);
        MemorySegment s = t.segment();
        for (long b = 0; b < s.byteSize(); b++) {
            s.set(ValueLayout.JAVA_BYTE, b, (byte) r.nextInt());
        }
        return t;
    }

    static void assertSameBytes(Tensor want, Tensor got, String what) {
        assertEquals(java.util.Arrays.toString(want.sizes()), java.util.Arrays.toString(got.sizes()), what);
        long mismatch = want.contiguous().segment().mismatch(got.contiguous().segment());
        assertEquals(-1, mismatch, what + ": first differing byte " + mismatch);
    }
}
