package org.tasft.model;

import java.util.Locale;

/**
 * What {@code --device} asked for: {@code auto} (the GPU when LibTorch sees one, else the CPU), {@code cpu},
 * {@code cuda} (the first GPU, or the rank's LOCAL_RANK GPU in a data-parallel job) or {@code cuda:N}. It becomes a
 * device name ("cpu", "cuda:1") by {@link #resolve}, which refuses, in one line, a CUDA device that this LibTorch or
 * this machine does not have.
 *
 * @param kind  auto, cpu or cuda
 * @param index the CUDA device for {@code cuda:N}; -1 when none was named
 */
public record DeviceRequest(Kind kind, int index) {
    public enum Kind { AUTO, CPU, CUDA }

    public static final DeviceRequest CPU = new DeviceRequest(Kind.CPU, -1);
    public static final DeviceRequest AUTO = new DeviceRequest(Kind.AUTO, -1);

    /** The build command for the CUDA LibTorch, named by the errors. */
    public static final String GPU_BUILD_HINT = "build with 'mvn -Pgpu package' (the CUDA LibTorch, "
            + "org.bytedeco:pytorch:linux-x86_64-gpu; it needs CUDA 13 with cuBLAS, cuDNN 9 and NCCL on the machine)";

    public DeviceRequest {
        if (kind == null) {
            throw new IllegalArgumentException("kind: must not be null");
        }
        if (index < -1 || (index >= 0 && kind != Kind.CUDA)) {
            throw new IllegalArgumentException("index: " + index + " with " + kind);
        }
    }

    /** auto | cpu | cuda | cuda:N (N >= 0). */
    public static DeviceRequest parse(String text) {
        String s = text == null ? "" : text.strip().toLowerCase(Locale.ROOT);
        switch (s) {
            case "auto":
                return AUTO;
            case "cpu":
                return CPU;
            case "cuda", "gpu":
                return new DeviceRequest(Kind.CUDA, -1);
            default:
                break;
        }
        if (s.startsWith("cuda:")) {
            String n = s.substring("cuda:".length());
            if (n.matches("[0-9]{1,4}")) {
                return new DeviceRequest(Kind.CUDA, Integer.parseInt(n));
            }
        }
        throw new IllegalArgumentException("--device: unknown device '" + text + "' (auto, cpu, cuda or cuda:N)");
    }

    /** Whether it asks for a GPU outright (cuda or cuda:N, not auto). */
    public boolean wantsCuda() {
        return kind == Kind.CUDA;
    }

    /**
     * The device name ("cpu" or "cuda:N").
     *
     * @param cuda      what this process's LibTorch offers
     * @param localRank this process's rank on its machine in a data-parallel job (the GPU that {@code cuda} and
     *                  {@code auto} then take), or -1 outside one
     * @throws IllegalArgumentException (a usage error, exit 2) for a CUDA device that cannot be had, saying whether
     *                                  LibTorch lacks CUDA or the machine lacks the GPU
     */
    public String resolve(CudaRuntime cuda, int localRank) {
        if (kind == Kind.CPU) {
            return "cpu";
        }
        int count = cuda.built() ? cuda.deviceCount() : 0;
        if (kind == Kind.AUTO) {
            if (count == 0) {
                return "cpu";
            }
            return "cuda:" + (localRank >= 0 ? localRank % count : 0);
        }
        String asked = "--device " + this;
        if (!cuda.built()) {
            throw new IllegalArgumentException(asked + ": this LibTorch is the CPU build (no CUDA); " + GPU_BUILD_HINT);
        }
        if (count == 0) {
            throw new IllegalArgumentException(asked + ": LibTorch has CUDA but sees no GPU (no NVIDIA driver, or "
                    + "CUDA_VISIBLE_DEVICES hides them all)");
        }
        int device = index >= 0 ? index : Math.max(localRank, 0);
        if (device >= count) {
            throw new IllegalArgumentException(asked + (index < 0 ? " (LOCAL_RANK " + localRank + ")" : "")
                    + ": LibTorch sees " + count + (count == 1 ? " GPU (cuda:0)" : " GPUs (cuda:0 .. cuda:" + (count - 1)
                    + ")"));
        }
        return "cuda:" + device;
    }

    @Override
    public String toString() {
        return switch (kind) {
            case AUTO -> "auto";
            case CPU -> "cpu";
            case CUDA -> index < 0 ? "cuda" : "cuda:" + index;
        };
    }
}
