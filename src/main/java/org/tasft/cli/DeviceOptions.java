package org.tasft.cli;

import org.tasft.distributed.LaunchEnvironment;
import org.tasft.model.CudaRuntime;
import org.tasft.model.DeviceRequest;
import org.tasft.model.Placement;
import org.tasft.model.Precision;
import picocli.CommandLine.Option;

/**
 * {@code --device} and {@code --dtype}, for every command that runs a model (train, score, generate, harvest, eval,
 * experiment): where the model's weights live and in which dtype they are stored and computed.
 */
final class DeviceOptions {
    /** What this process's LibTorch offers; tests swap in a fixed answer to exercise every case without a GPU. */
    static volatile CudaRuntime cuda = CudaRuntime.libtorch();

    @Option(names = "--device", paramLabel = "auto|cpu|cuda|cuda:N", defaultValue = "auto",
            description = "Where the model runs (default: ${DEFAULT-VALUE}: the GPU when LibTorch sees one, else the "
                    + "CPU; in a data-parallel job cuda means each rank's LOCAL_RANK GPU).")
    String device;

    @Option(names = "--dtype", paramLabel = "float32|bfloat16|float16", defaultValue = "float32",
            description = "Weights and compute dtype (default: ${DEFAULT-VALUE}); bfloat16 loads bf16 checkpoints "
                    + "without widening them.")
    String dtype;

    DeviceRequest request() {
        try {
            return DeviceRequest.parse(device);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage(), e);
        }
    }

    Precision precision() {
        try {
            return Precision.parse(dtype);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage(), e);
        }
    }

    /**
     * The data-parallel ranks a launcher starts on this machine when {@code --nproc-per-node} is not given: with
     * {@code --device cuda} (no index) one per visible GPU, else 1 (one process).
     */
    int defaultRanksPerNode() {
        DeviceRequest request = request();
        if (request.kind() != DeviceRequest.Kind.CUDA || request.index() >= 0) {
            return 1;
        }
        CudaRuntime c = cuda;
        return c.built() ? Math.max(1, c.deviceCount()) : 1;
    }

    /** The resolved placement; a usage error (exit 2) naming why a CUDA device cannot be had. */
    Placement placement() {
        DeviceRequest request = request();
        Precision precision = precision();
        try {
            LaunchEnvironment env = LaunchEnvironment.fromEnvironment();
            return new Placement(request.resolve(cuda, env.isDistributed() ? env.localRank() : -1), precision);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage(), e);
        }
    }
}
