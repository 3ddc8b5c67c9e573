package org.tasft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** --device parsing and resolution against every kind of machine (a fixed CudaRuntime: no GPU needed). */
class DeviceRequestTest {
    static final CudaRuntime CPU_BUILD = CudaRuntime.of(false, 0);
    static final CudaRuntime NO_GPU = CudaRuntime.of(true, 0);
    static final CudaRuntime ONE_GPU = CudaRuntime.of(true, 1);
    static final CudaRuntime FOUR_GPUS = CudaRuntime.of(true, 4);

    @Test
    void parsesEveryForm() {
        assertEquals(DeviceRequest.AUTO, DeviceRequest.parse("auto"));
        assertEquals(DeviceRequest.CPU, DeviceRequest.parse(" CPU "));
        assertEquals(new DeviceRequest(DeviceRequest.Kind.CUDA, -1), DeviceRequest.parse("cuda"));
        assertEquals(new DeviceRequest(DeviceRequest.Kind.CUDA, 3), DeviceRequest.parse("cuda:3"));
        assertEquals("cuda:3", DeviceRequest.parse("cuda:3").toString());
        for (String bad : new String[] {"", "tpu", "cuda:", "cuda:-1", "cuda:x", "cpu:0", "mps"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DeviceRequest.parse(bad));
            assertTrue(e.getMessage().startsWith("--device: unknown device"), e.getMessage());
        }
    }

    @Test
    void autoTakesTheGpuWhenThereIsOne() {
        assertEquals("cpu", DeviceRequest.AUTO.resolve(CPU_BUILD, -1));
        assertEquals("cpu", DeviceRequest.AUTO.resolve(NO_GPU, -1));
        assertEquals("cuda:0", DeviceRequest.AUTO.resolve(ONE_GPU, -1));
        assertEquals("cuda:2", DeviceRequest.AUTO.resolve(FOUR_GPUS, 2)); // a data-parallel rank's own GPU
        assertEquals("cpu", DeviceRequest.CPU.resolve(FOUR_GPUS, 1));
    }

    @Test
    void cudaTakesTheNamedOrTheLocalRanksGpu() {
        assertEquals("cuda:0", DeviceRequest.parse("cuda").resolve(ONE_GPU, -1));
        assertEquals("cuda:3", DeviceRequest.parse("cuda").resolve(FOUR_GPUS, 3));
        assertEquals("cuda:1", DeviceRequest.parse("cuda:1").resolve(FOUR_GPUS, 3));
    }

    @Test
    void cudaWithoutCudaSaysWhichIsMissing() {
        String cpuBuild = assertThrows(IllegalArgumentException.class,
                () -> DeviceRequest.parse("cuda").resolve(CPU_BUILD, -1)).getMessage();
        assertEquals("--device cuda: this LibTorch is the CPU build (no CUDA); " + DeviceRequest.GPU_BUILD_HINT,
                cpuBuild);
        assertTrue(cpuBuild.contains("-Pgpu"));
        String noGpu = assertThrows(IllegalArgumentException.class,
                () -> DeviceRequest.parse("cuda:0").resolve(NO_GPU, -1)).getMessage();
        assertTrue(noGpu.startsWith("--device cuda:0: LibTorch has CUDA but sees no GPU"), noGpu);
        String range = assertThrows(IllegalArgumentException.class,
                () -> DeviceRequest.parse("cuda:1").resolve(ONE_GPU, -1)).getMessage();
        assertEquals("--device cuda:1: LibTorch sees 1 GPU (cuda:0)", range);
        String rank = assertThrows(IllegalArgumentException.class,
                () -> DeviceRequest.parse("cuda").resolve(FOUR_GPUS, 5)).getMessage();
        assertEquals("--device cuda (LOCAL_RANK 5): LibTorch sees 4 GPUs (cuda:0 .. cuda:3)", rank);
    }

    @Test
    void thisLibTorchAnswersConsistently() {
        CudaRuntime here = CudaRuntime.libtorch();
        // whatever this machine is: a CPU build sees no GPU, and auto follows what it sees
        assertTrue(here.built() || here.deviceCount() == 0);
        assertEquals(here.deviceCount() > 0 ? "cuda:0" : "cpu", DeviceRequest.AUTO.resolve(here, -1));
    }

    @Test
    void precisionParses() {
        assertEquals(Precision.BFLOAT16, Precision.parse("bf16"));
        assertEquals(Precision.BFLOAT16, Precision.parse("bfloat16"));
        assertEquals(Precision.FLOAT16, Precision.parse("float16"));
        assertEquals(Precision.FLOAT32, Precision.parse("FLOAT32"));
        assertThrows(IllegalArgumentException.class, () -> Precision.parse("int8"));
    }
}
