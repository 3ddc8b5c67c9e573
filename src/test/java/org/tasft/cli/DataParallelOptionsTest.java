package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

import org.junit.jupiter.api.Test;

class DataParallelOptionsTest {
    @Test
    void theChildrenGetTheCommandLineWithoutTheLauncherOptions() {
        assertEquals(List.of("train", "--model", "m", "--safe", "s", "--dist-timeout", "9"),
                DataParallelOptions.withoutLauncherOptions(List.of("train", "--nproc-per-node", "2", "--model", "m",
                        "--nnodes=1", "--safe", "s", "--log-dir", "logs", "--master-port", "29500", "--dist-timeout",
                        "9")));
    }

    @Test
    void launcherUsageErrors() {
        StringWriter err = new StringWriter();
        int code = Main.execute(new PrintWriter(new StringWriter()), new PrintWriter(err), "train",
                "--nproc-per-node", "2");
        assertEquals(Main.USAGE, code);
        assertTrue(err.toString().contains("--nproc-per-node needs --model and --safe"), err.toString());
        err = new StringWriter();
        code = Main.execute(new PrintWriter(new StringWriter()), new PrintWriter(err), "train", "--model", "m",
                "--safe", "s", "--nproc-per-node", "2", "--dist-backend", "mpi");
        assertEquals(Main.USAGE, code);
        assertTrue(err.toString().contains("--dist-backend 'mpi': expected auto, gloo or nccl"), err.toString());
    }
}
