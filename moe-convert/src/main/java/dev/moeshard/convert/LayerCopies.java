package dev.moeshard.convert;

import dev.moeshard.cuda.Cuda;
import dev.moeshard.cuda.CudaAvailability;
import dev.moeshard.tensor.Device;
import dev.moeshard.tensor.Tensor;
import dev.moeshard.tensor.TensorOps;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/**
 * Where a layer's expert copies run. On the CPU they are built in a small buffer and written into the output file
 * batch by batch ({@link StagedWrites}). On a CUDA device the layer's grouped tensors are built in device memory
 * from the sources uploaded as they lie (one transfer, one launch per geometry), then downloaded whole into the
 * mapped output: the strided moves all happen on the GPU.
 */
abstract sealed class LayerCopies {
    /**
     * Copies {@code sources[i]} into {@code targets[i]}, every target a view of one of {@code groupedOutputs}, tensors
     * of the output that {@code staged} writes.
     */
    abstract void copyLayer(List<Tensor> targets, List<Tensor> sources, List<Tensor> groupedOutputs,
                            StagedWrites staged);

    /**
     * True when {@link #copyLayer} writes each target where it lies and nothing else of the grouped outputs, so that
     * a target may be filled by other means before (a weight dequantized straight into it) and left out of the copy.
     */
    abstract boolean writesTargetsInPlace();

    /**
     * Where a layer's copies run for the device asked for: null (auto) takes the CPU, since a file-to-file job is
     * faster there than through the CUDA path, which moves each layer to the device and back whole
     * (benchmarks/RESULTS.md); a GPU runs them only when named. A CUDA device named where CUDA cannot be used fails
     * with the reasons: asked for by name, a missing device must not silently become the CPU.
     */
    static LayerCopies on(Device requested) {
        if (requested == null) {
            return new Cpu("cpu (auto: a file-to-file job is faster on the CPU than on the CUDA path, which moves each "
                    + "layer to the device and back whole; --device cuda runs it there)");
        }
        if (requested.isCpu()) {
            return onCpu();
        }
        requireUsable(requested);
        return onDevice(requested);
    }

    /**
     * Refuses a CUDA device that cannot be used. Jobs without a device path (to-hf, verify, regrouping) call it too,
     * so that a device named for them is not ignored where it is missing.
     */
    static void requireUsable(Device requested) {
        if (requested != null && !requested.isCpu()) {
            CudaAvailability availability = Cuda.availability();
            if (!availability.available()) {
                throw new DeviceMissingException("--device " + requested + ": " + availability.describe());
            }
        }
    }

    /** Where the copies run, for the report: cpu or cuda:N, and why where it was chosen. */
    abstract String where();

    static LayerCopies onCpu() {
        return new Cpu("cpu");
    }

    static LayerCopies onDevice(Device device) {
        return new Gpu(device);
    }

    private static final class Cpu extends LayerCopies {
        private final String where;

        Cpu(String where) {
            this.where = where;
        }

        @Override
        void copyLayer(List<Tensor> targets, List<Tensor> sources, List<Tensor> groupedOutputs, StagedWrites staged) {
            staged.copyLayer(targets, sources, groupedOutputs);
        }

        @Override
        boolean writesTargetsInPlace() {
            return true;
        }

        @Override
        String where() {
            return where;
        }
    }

    private static final class Gpu extends LayerCopies {
        private final Device device;

        Gpu(Device device) {
            this.device = device;
        }

        @Override
        void copyLayer(List<Tensor> targets, List<Tensor> sources, List<Tensor> groupedOutputs,
                       StagedWrites staged) {
            // The layer's device twins are freed once downloaded: left to the collector, a layer's worth of device
            // memory would pile up per layer until it ran, more than a card holds for a large model.
            try (Arena layer = Arena.ofShared()) {
                List<Tensor> onDevice = new ArrayList<>(groupedOutputs.size());
                for (Tensor grouped : groupedOutputs) {
                    onDevice.add(Tensor.allocate(layer, device, grouped.dtype(), grouped.sizes()));
                }
                List<Tensor> deviceTargets = new ArrayList<>(targets.size());
                for (Tensor target : targets) {
                    deviceTargets.add(sameViewOnDevice(target, groupedOutputs, onDevice));
                }
                TensorOps.copyAll(deviceTargets, sources);
                // Downloaded whole into the mapping: through the 4 MiB staging buffer, with a transfer per chunk, the
                // same conversion took 5.3-5.5 s on an H100 host against 4.2-5.3 s.
                for (int i = 0; i < groupedOutputs.size(); i++) {
                    groupedOutputs.get(i).copyFrom(onDevice.get(i));
                }
            }
        }

        @Override
        String where() {
            return device.toString();
        }

        /** The grouped outputs are downloaded whole from the device, over anything written to them before. */
        @Override
        boolean writesTargetsInPlace() {
            return false;
        }

        /** The view {@code target} is of its grouped output, taken of that output's device twin. */
        private static Tensor sameViewOnDevice(Tensor target, List<Tensor> hosts, List<Tensor> devices) {
            for (int i = 0; i < hosts.size(); i++) {
                if (target.isViewOf(hosts.get(i))) {
                    return target.rebase(hosts.get(i), devices.get(i));
                }
            }
            throw new IllegalStateException("target " + target + " is not a view of the layer's grouped tensors");
        }
    }
}
