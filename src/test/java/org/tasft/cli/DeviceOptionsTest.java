package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.model.CudaRuntime;

/**
 * --device and --dtype on the six commands that run a model: a CUDA device that cannot be had is one line and exit
 * 2, naming whether LibTorch lacks CUDA or the machine the GPU, before any work. Each case runs against a fixed
 * CudaRuntime, so none passes only because this machine has no GPU.
 */
class DeviceOptionsTest {
    @TempDir
    Path dir;

    Path model;
    private CudaRuntime saved;

    @BeforeEach
    void setUp() throws IOException {
        model = MainTest.tinyLlama(dir);
        saved = DeviceOptions.cuda;
    }

    @AfterEach
    void restore() {
        DeviceOptions.cuda = saved;
    }

    private List<String[]> commands(String device) {
        String m = model.toString();
        Path safe = dir.resolve("safe.json");
        return List.of(
                new String[] {"score", "--model", m, "--ids", "1,2,3", "--device", device},
                new String[] {"generate", "--model", m, "--prompt", "hi", "--device", device},
                new String[] {"harvest", "--model", m, "--prompts", safe.toString(), "--out",
                    dir.resolve("h.jsonl").toString(), "--device", device},
                new String[] {"eval", "--model", m, "--suite", safe.toString(), "--out", dir.resolve("e").toString(),
                    "--device", device},
                new String[] {"train", "--model", m, "--safe", safe.toString(), "--out",
                    dir.resolve("t").toString(), "--device", device},
                new String[] {"experiment", "--out", dir.resolve("x").toString(), "--device", device});
    }

    @Test
    void cpuBuildSaysHowToGetCuda() {
        DeviceOptions.cuda = CudaRuntime.of(false, 0);
        for (String[] args : commands("cuda")) {
            MainTest.Run r = MainTest.run(args);
            assertEquals(2, r.code(), args[0] + ": " + r.err());
            assertEquals(1, r.errLines().size(), r.err());
            assertTrue(r.err().contains("tasft " + args[0] + ": error: --device cuda: this LibTorch is the CPU build"),
                    r.err());
            assertTrue(r.err().contains("mvn -Pgpu package"), r.err());
        }
    }

    @Test
    void noGpuSaysSo() {
        DeviceOptions.cuda = CudaRuntime.of(true, 0);
        for (String[] args : commands("cuda:0")) {
            MainTest.Run r = MainTest.run(args);
            assertEquals(2, r.code(), args[0] + ": " + r.err());
            assertTrue(r.err().contains("--device cuda:0: LibTorch has CUDA but sees no GPU"), r.err());
        }
    }

    @Test
    void aGpuBeyondTheCountIsNamed() {
        DeviceOptions.cuda = CudaRuntime.of(true, 2);
        MainTest.Run r = MainTest.run(commands("cuda:2").get(0));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--device cuda:2: LibTorch sees 2 GPUs (cuda:0 .. cuda:1)"), r.err());
    }

    @Test
    void thisMachinesLibTorchGivesOneOfTheTwoReasons() {
        DeviceOptions.cuda = CudaRuntime.libtorch();
        MainTest.Run r = MainTest.run("score", "--model", model.toString(), "--ids", "1,2,3", "--device", "cuda",
                "--json");
        if (CudaRuntime.libtorch().deviceCount() > 0) {
            assertEquals(0, r.code(), r.err()); // a GPU machine: it runs there
        } else {
            assertEquals(2, r.code(), r.err());
            assertTrue(r.err().contains(CudaRuntime.libtorch().built() ? "LibTorch has CUDA but sees no GPU"
                    : "this LibTorch is the CPU build"), r.err());
        }
    }

    @Test
    void badValuesAreUsageErrors() {
        MainTest.Run r = MainTest.run("score", "--model", model.toString(), "--ids", "1,2", "--device", "tpu");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--device: unknown device 'tpu' (auto, cpu, cuda or cuda:N)"), r.err());
        r = MainTest.run("score", "--model", model.toString(), "--ids", "1,2", "--dtype", "int8");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--dtype: unknown dtype 'int8'"), r.err());
    }

    @Test
    void autoRunsOnTheCpuWhenThereIsNoGpu() {
        DeviceOptions.cuda = CudaRuntime.of(true, 0);
        MainTest.Run r = MainTest.run("score", "--model", model.toString(), "--ids", "1,2,3", "--json");
        assertEquals(0, r.code(), r.err());
    }

    @Test
    void scoresAndGeneratesInBfloat16() {
        MainTest.Run fp32 = MainTest.run("score", "--model", model.toString(), "--ids", "5,17,42,99,7", "--json");
        MainTest.Run bf16 = MainTest.run("score", "--model", model.toString(), "--ids", "5,17,42,99,7", "--json",
                "--dtype", "bfloat16", "--device", "cpu");
        assertEquals(0, bf16.code(), bf16.err());
        double a = meanNll(fp32.out());
        double b = meanNll(bf16.out());
        assertEquals(a, b, 0.02 * Math.abs(a), "bf16 scoring within 2% of float32's mean NLL");
        MainTest.Run gen = MainTest.run("generate", "--model", model.toString(), "--prompt", "hi", "--dtype", "bf16",
                "--max-new-tokens", "4", "--json");
        assertEquals(0, gen.code(), gen.err());
    }

    private static double meanNll(String json) {
        String key = "\"mean_nll\":";
        String rest = json.substring(json.indexOf(key) + key.length());
        return Double.parseDouble(rest.substring(0, rest.indexOf('}')).strip());
    }

    @Test
    void cudaMeansOneRankPerVisibleGpu() {
        DeviceOptions options = new DeviceOptions();
        options.device = "cuda";
        DeviceOptions.cuda = CudaRuntime.of(true, 4);
        assertEquals(4, options.defaultRanksPerNode());
        options.device = "cuda:1";
        assertEquals(1, options.defaultRanksPerNode());
        options.device = "auto";
        assertEquals(1, options.defaultRanksPerNode());
        options.device = "cuda";
        DeviceOptions.cuda = CudaRuntime.of(true, 1);
        assertEquals(1, options.defaultRanksPerNode());
    }
}
