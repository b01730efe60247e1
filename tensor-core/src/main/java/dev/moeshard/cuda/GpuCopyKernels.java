package dev.moeshard.cuda;

/** The copy kernels' PTX, loaded once per process on first use. */
final class GpuCopyKernels {
    static final String RESOURCE = "/dev/moeshard/cuda/copy_kernels.ptx";

    private GpuCopyKernels() {}

    static CudaModule module() {
        return Holder.MODULE;
    }

    private static final class Holder {
        static final CudaModule MODULE = CudaModule.loadResource(RESOURCE);
    }
}
