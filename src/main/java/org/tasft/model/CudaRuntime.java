package org.tasft.model;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.global.torch;

/**
 * What this process's LibTorch offers for CUDA: whether it is the CUDA build at all, and how many GPUs it sees.
 * An interface so that device resolution is tested for every case on a machine without a GPU.
 */
public interface CudaRuntime {
    /** Whether LibTorch was built with CUDA (the {@code -Pgpu} jars, or a CUDA libtorch loaded in their place). */
    boolean built();

    /** The GPUs LibTorch sees (0 without a driver or with CUDA_VISIBLE_DEVICES empty). */
    int deviceCount();

    /** A fixed answer (tests; the launcher's view of a machine). */
    static CudaRuntime of(boolean built, int deviceCount) {
        return new CudaRuntime() {
            @Override
            public boolean built() {
                return built;
            }

            @Override
            public int deviceCount() {
                return built ? deviceCount : 0;
            }
        };
    }

    /** This process's LibTorch, probed once. */
    static CudaRuntime libtorch() {
        return LibTorchCuda.INSTANCE;
    }

    /** The probe: loading the presets' CUDA library succeeds only with the CUDA build (and registers its hooks). */
    final class LibTorchCuda implements CudaRuntime {
        static final LibTorchCuda INSTANCE = new LibTorchCuda();
        private volatile Boolean built;

        private LibTorchCuda() {
        }

        @Override
        public boolean built() {
            Boolean b = built;
            if (b == null) {
                b = probe();
                built = b;
            }
            return b;
        }

        private static boolean probe() {
            if (torch.cuda_is_available()) {
                return true;
            }
            try {
                Loader.load(org.bytedeco.pytorch.global.torch_cuda.class);
                return true;
            } catch (LinkageError | RuntimeException e) {
                return false; // the CPU jar has no libjnitorch_cuda.so
            }
        }

        @Override
        public int deviceCount() {
            return built() && torch.cuda_is_available() ? torch.cuda_device_count() : 0;
        }
    }
}
