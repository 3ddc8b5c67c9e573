package org.tasft.distributed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;

class LaunchEnvironmentTest {
    @Test
    void torchrunVariables() {
        LaunchEnvironment e = LaunchEnvironment.fromEnvironment(Map.of("RANK", "5", "WORLD_SIZE", "16",
                "LOCAL_RANK", "1", "LOCAL_WORLD_SIZE", "8", "MASTER_ADDR", "node0", "MASTER_PORT", "29500"));
        assertEquals(new LaunchEnvironment(5, 16, 1, 8, "node0", 29500), e);
        assertTrue(e.isDistributed());
    }

    @Test
    void noVariablesIsOneProcess() {
        assertFalse(LaunchEnvironment.fromEnvironment(Map.of()).isDistributed());
        assertFalse(LaunchEnvironment.fromEnvironment(Map.of("RANK", "0", "WORLD_SIZE", "1")).isDistributed());
    }

    @Test
    void slurmVariablesStandIn() {
        LaunchEnvironment e = LaunchEnvironment.fromEnvironment(Map.of("SLURM_PROCID", "9", "SLURM_NTASKS", "16",
                "SLURM_LOCALID", "1", "SLURM_NTASKS_PER_NODE", "8(x2)", "MASTER_ADDR", "node0", "MASTER_PORT",
                "29500"));
        assertEquals(new LaunchEnvironment(9, 16, 1, 8, "node0", 29500), e);
        // torchrun's variables win over Slurm's
        assertEquals(0, LaunchEnvironment.fromEnvironment(Map.of("RANK", "0", "WORLD_SIZE", "2", "SLURM_PROCID",
                "1", "SLURM_NTASKS", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1")).rank());
    }

    @Test
    void badValuesNameTheVariable() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LaunchEnvironment.fromEnvironment(Map.of("RANK", "2", "WORLD_SIZE", "2", "MASTER_ADDR", "h",
                        "MASTER_PORT", "1")));
        assertEquals("RANK 2 is outside [0, WORLD_SIZE 2)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> LaunchEnvironment.fromEnvironment(Map.of("RANK", "0", "WORLD_SIZE", "2", "MASTER_PORT", "1")));
        assertEquals("MASTER_ADDR is not set (the host of rank 0)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> LaunchEnvironment.fromEnvironment(Map.of("RANK", "x", "WORLD_SIZE", "2")));
        assertEquals("RANK 'x' is not an integer", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> LaunchEnvironment.fromEnvironment(Map.of("RANK", "0", "WORLD_SIZE", "2", "MASTER_ADDR", "h")));
        assertTrue(e.getMessage().startsWith("MASTER_PORT is not set"), e.getMessage());
    }

    @Test
    void faultInjectionSpec() {
        assertEquals(new FaultInjection(1, 3, "hang"), FaultInjection.parse("rank=1,step=3,mode=hang"));
        assertEquals(new FaultInjection(0, 2, "exit"), FaultInjection.parse("step=2, rank=0"));
        assertThrows(IllegalArgumentException.class, () -> FaultInjection.parse("rank=1,step=0"));
        assertThrows(IllegalArgumentException.class, () -> FaultInjection.parse("rank=1,step=2,mode=explode"));
    }

    @Test
    void launcherSpecChecksItsNumbers() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LocalLauncher.Spec.local(java.util.List.of("java"), java.util.List.of(), 0));
        assertEquals("--nproc-per-node must be >= 1, got 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new LocalLauncher.Spec(java.util.List.of("java"),
                java.util.List.of(), 2, 2, 0, "node0", 0, java.time.Duration.ofSeconds(1), Map.of(), null));
        assertEquals("--master-port is required with --nnodes > 1", e.getMessage());
    }
}
