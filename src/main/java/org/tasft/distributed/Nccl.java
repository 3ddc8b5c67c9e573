package org.tasft.distributed;

import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.Backend;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.global.torch;

/**
 * The NCCL backend, kept apart so that nothing touches the NCCL classes (whose native library only the GPU build of
 * the presets has) unless NCCL is asked for. Untested here: the CI machine has no GPU.
 */
final class Nccl {
    private Nccl() {
    }

    static Backend create(Store store, LaunchEnvironment env, Milliseconds timeout, Device paramDevice) {
        if (!paramDevice.is_cuda()) {
            throw new IllegalArgumentException("--dist-backend nccl: the parameters are on "
                    + paramDevice.str().getString() + "; NCCL reduces CUDA tensors (use gloo on the CPU)");
        }
        if (!torch.cuda_is_available()) {
            throw new IllegalArgumentException("--dist-backend nccl: this process sees no CUDA device");
        }
        int local = paramDevice.has_index() ? paramDevice.index() : 0;
        if (local != env.localRank() % Math.max(1, torch.cuda_device_count())) {
            System.err.println("tasft train: warning: rank " + env.rank() + " (LOCAL_RANK " + env.localRank()
                    + ") trains on cuda:" + local);
        }
        try {
            org.bytedeco.pytorch.nccl.ProcessGroupNCCL.Options o = new org.bytedeco.pytorch.nccl.ProcessGroupNCCL
                    .Options();
            o.timeout(timeout);
            return new org.bytedeco.pytorch.nccl.ProcessGroupNCCL(store, env.rank(), env.worldSize(), o);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            throw new IllegalStateException("--dist-backend nccl: this LibTorch build has no NCCL (build with -Pgpu"
                    + " on a machine with CUDA 13 and NCCL): " + e.getMessage(), e);
        }
    }
}
