package dev.moeshard.benchmarks;

import dev.moeshard.cuda.Cuda;
import dev.moeshard.cuda.CudaAvailability;
import dev.moeshard.cuda.CudaCopies;
import dev.moeshard.cuda.CudaEvent;
import dev.moeshard.cuda.CudaRuntime;
import dev.moeshard.cuda.CudaStream;
import dev.moeshard.cuda.DeviceBuffer;
import dev.moeshard.cuda.PinnedBuffer;
import dev.moeshard.moe.FromHfOptions;
import dev.moeshard.moe.GroupedLayout;
import dev.moeshard.moe.Projection;
import dev.moeshard.moe.family.FamilyDetection;
import dev.moeshard.safetensors.Checkpoint;
import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.TensorOps;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * GPU measurements, each a ratio to its reference measured in the same run:
 * <ul>
 *   <li>merge: per-expert device tensors → grouped [E, H, 2I] and [E, I, H], beside a device-to-device copy of the
 *       same bytes;</li>
 *   <li>staging: a pageable host buffer uploaded through the ring of pinned chunks, beside a pinned → device
 *       copy of the same bytes;</li>
 *   <li>with a checkpoint directory argument: that HF checkpoint (in the page cache) → grouped experts on the GPU,
 *       end to end, timed from opening the files to the last byte on the device.</li>
 * </ul>
 * <pre>java ... dev.moeshard.benchmarks.GpuBenchmark [E H I REPETITIONS [CHECKPOINT_DIR]]
 * java ... dev.moeshard.benchmarks.GpuBenchmark staging [REPETITIONS]</pre>
 */
public final class GpuBenchmark {
    private static final Device GPU = Device.cuda(0);
    /**
     * Merge calls before measuring, so that the host code timed is JIT-compiled: a layer's planning is 384 small
     * loops, which the JIT compiles fully only after some thousands of calls (about 3 s of GPU work here).
     */
    private static final int WARM_UP = 3000;

    private GpuBenchmark() {}

    public static void main(String[] args) throws Exception {
        CudaAvailability availability = Cuda.availability();
        if (!availability.available()) {
            System.out.println(availability.describe());
            return;
        }
        if (args.length > 0 && args[0].equals("staging")) {
            // Staging alone, for trying the staging properties (moeshard.cuda.staging*) one JVM each.
            staging(Cuda.runtime(), 1L << 30, args.length > 1 ? Integer.parseInt(args[1]) : 10);
            return;
        }
        int experts = args.length > 0 ? Integer.parseInt(args[0]) : 128;
        long hidden = args.length > 1 ? Long.parseLong(args[1]) : 2048;
        long inter = args.length > 2 ? Long.parseLong(args[2]) : 768;
        int repetitions = args.length > 3 ? Integer.parseInt(args[3]) : 10;
        CudaRuntime cuda = Cuda.runtime();
        System.out.println("device: " + cuda.deviceName(0) + "; " + availability.describe());
        merge(cuda, experts, hidden, inter, repetitions);
        staging(cuda, 1L << 30, repetitions);
        if (args.length > 4) {
            endToEnd(Path.of(args[4]), repetitions);
        }
    }

    private static void merge(CudaRuntime cuda, int experts, long hidden, long inter, int repetitions) {
        DType dtype = DType.BF16;
        List<Tensor> dsts = new ArrayList<>();
        List<Tensor> srcs = new ArrayList<>();
        Tensor gu = Tensor.allocate(GPU, dtype, experts, hidden, 2 * inter);
        Tensor dn = Tensor.allocate(GPU, dtype, experts, inter, hidden);
        // Each expert's slots as the library's grouping maps them (GroupedLayout.projection), written from the expert.
        GroupedLayout layout = GroupedLayout.DEEPEP;
        Tensor gates = layout.projection(gu, Projection.GATE, inter, true);
        Tensor ups = layout.projection(gu, Projection.UP, inter, true);
        Tensor downs = layout.projection(dn, Projection.DOWN, inter, true);
        for (int e = 0; e < experts; e++) {
            dsts.addAll(List.of(gates.select(0, e), ups.select(0, e), downs.select(0, e)));
            srcs.add(Tensor.allocate(GPU, dtype, inter, hidden));
            srcs.add(Tensor.allocate(GPU, dtype, inter, hidden));
            srcs.add(Tensor.allocate(GPU, dtype, hidden, inter));
        }
        long bytes = gu.byteSize() + dn.byteSize();
        try (DeviceBuffer a = DeviceBuffer.allocate(bytes); DeviceBuffer b = DeviceBuffer.allocate(bytes);
             CudaStream stream = CudaStream.create(); CudaEvent t0 = CudaEvent.create(); CudaEvent t1 = CudaEvent.create()) {
            double bestMerge = 0;
            double bestMergeGpu = 0;
            double bestEnqueueMillis = Double.MAX_VALUE;
            double bestCopy = 0;
            CudaStream copies = CudaCopies.stream(GPU);
            // Host-side planning and launching is Java code: until the JIT has compiled it, it takes longer than
            // the GPU's part. Warm it up as a long conversion would, then measure.
            for (int warm = 0; warm < WARM_UP; warm++) {
                TensorOps.copyAll(dsts, srcs);
            }
            CudaCopies.synchronize(GPU);
            for (int rep = 0; rep < repetitions; rep++) {
                long start = System.nanoTime();
                t0.record(copies);
                long enqueue = System.nanoTime();
                TensorOps.copyAll(dsts, srcs);
                bestEnqueueMillis = Math.min(bestEnqueueMillis, (System.nanoTime() - enqueue) / 1e6);
                t1.record(copies);
                CudaCopies.synchronize(GPU);
                bestMerge = Math.max(bestMerge, bytes / (double) (System.nanoTime() - start));
                bestMergeGpu = Math.max(bestMergeGpu, bytes / (t1.millisSince(t0) * 1e6));
                t0.record(stream);
                cuda.memcpyAsync(b.pointer(), a.pointer(), bytes, stream);
                t1.record(stream);
                t1.synchronize();
                bestCopy = Math.max(bestCopy, bytes / (t1.millisSince(t0) * 1e6));
            }
            System.out.printf("merge E=%d H=%d I=%d BF16 (%.0f MB): %.0f GB/s wall clock (%.0f GB/s on the GPU's own "
                    + "clock); device-to-device copy of the same bytes: %.0f GB/s; ratio %.2f (%.2f on the GPU clock)%n",
                    experts, hidden, inter, bytes / 1e6, bestMerge, bestMergeGpu, bestCopy, bestMerge / bestCopy,
                    bestMergeGpu / bestCopy);
            // Layers one after another, as a conversion queues them: the host plans a layer while the GPU merges the
            // one before, so what is measured is the merges' own rate, against as many copies back to back.
            t0.record(copies);
            for (int rep = 0; rep < repetitions; rep++) {
                TensorOps.copyAll(dsts, srcs);
            }
            t1.record(copies);
            t1.synchronize();
            double queuedMerge = repetitions * (double) bytes / (t1.millisSince(t0) * 1e6);
            t0.record(stream);
            for (int rep = 0; rep < repetitions; rep++) {
                cuda.memcpyAsync(b.pointer(), a.pointer(), bytes, stream);
            }
            t1.record(stream);
            t1.synchronize();
            double queuedCopy = repetitions * (double) bytes / (t1.millisSince(t0) * 1e6);
            System.out.printf("  %d merges queued back to back: %.0f GB/s; as many copies: %.0f GB/s; ratio %.2f%n",
                    repetitions, queuedMerge, queuedCopy, queuedMerge / queuedCopy);
            System.out.printf("  of which planning and launching %d copies on the host took %.2f ms (the copy of the same "
                    + "bytes takes %.2f ms on the device)%n", dsts.size(), bestEnqueueMillis, bytes / bestCopy / 1e6);
        }
    }

    private static void staging(CudaRuntime cuda, long bytes, int repetitions) {
        Tensor host = Tensor.allocate(DType.U8, bytes);
        host.segment().fill((byte) 1);
        Tensor device = Tensor.allocate(GPU, DType.U8, bytes);
        try (PinnedBuffer pinned = PinnedBuffer.allocate(bytes); CudaStream stream = CudaStream.create();
             CudaEvent t0 = CudaEvent.create(); CudaEvent t1 = CudaEvent.create()) {
            double bestStaged = 0;
            double bestPinned = 0;
            for (int rep = 0; rep < repetitions; rep++) {
                long start = System.nanoTime();
                device.copyFrom(host);
                bestStaged = Math.max(bestStaged, bytes / (double) (System.nanoTime() - start));
                t0.record(stream);
                cuda.memcpyAsync(MemorySegment.ofAddress(device.storage().address()), pinned.memory(), bytes, stream);
                t1.record(stream);
                t1.synchronize();
                bestPinned = Math.max(bestPinned, bytes / (t1.millisSince(t0) * 1e6));
            }
            System.out.printf("host->device staging of %.0f MB pageable memory: %.1f GB/s; pinned->device: %.1f GB/s; "
                    + "ratio %.2f%n", bytes / 1e6, bestStaged, bestPinned, bestStaged / bestPinned);
        }
    }

    private static void endToEnd(Path checkpoint, int repetitions) {
        double best = Double.MAX_VALUE;
        long expertBytes = 0;
        for (int rep = 0; rep < Math.min(repetitions, 3); rep++) {
            long start = System.nanoTime();
            try (Checkpoint hf = Checkpoint.open(checkpoint)) {
                var model = FamilyDetection.fromConfigFile(checkpoint.resolve("config.json"));
                Map<String, Tensor> views = new LinkedHashMap<>();
                for (String key : hf.keys()) {
                    views.put(key, hf.tensor(key));
                }
                Map<String, Tensor> grouped = model.adapter().fromHf(views, FromHfOptions.defaults().withDevice(GPU));
                CudaCopies.synchronize(GPU);
                expertBytes = grouped.values().stream().filter(t -> !t.device().isCpu()).mapToLong(Tensor::byteSize).sum();
            }
            best = Math.min(best, (System.nanoTime() - start) / 1e9);
        }
        System.out.printf("end to end: %s -> grouped experts on the GPU: %.3f s (%.0f MB of experts, %.1f GB/s)%n",
                checkpoint, best, expertBytes / 1e6, expertBytes / best / 1e9);
    }
}
