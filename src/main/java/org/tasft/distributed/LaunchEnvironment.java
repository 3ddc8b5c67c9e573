package org.tasft.distributed;

import java.util.Map;

/**
 * Where this process stands in a data-parallel job, read from the environment the way torchrun sets it:
 * {@code RANK}, {@code WORLD_SIZE}, {@code LOCAL_RANK}, {@code LOCAL_WORLD_SIZE}, {@code MASTER_ADDR},
 * {@code MASTER_PORT}. Under Slurm ({@code srun}) without those, {@code SLURM_PROCID}, {@code SLURM_NTASKS},
 * {@code SLURM_LOCALID} and {@code SLURM_NTASKS_PER_NODE} stand in for the first four; {@code MASTER_ADDR} and
 * {@code MASTER_PORT} must still be exported (the batch script knows the first node's name).
 *
 * @param rank           this process's rank, 0 .. worldSize - 1; rank 0 hosts the rendezvous store and writes outputs
 * @param worldSize      the number of processes
 * @param localRank      the rank among the processes of this machine (picks the GPU)
 * @param localWorldSize the number of processes on this machine
 * @param masterAddr     the host of rank 0's rendezvous store (TCPStore)
 * @param masterPort     its port
 */
public record LaunchEnvironment(int rank, int worldSize, int localRank, int localWorldSize, String masterAddr,
        int masterPort) {

    public LaunchEnvironment {
        if (worldSize < 1) {
            throw new IllegalArgumentException("WORLD_SIZE must be >= 1, got " + worldSize);
        }
        if (rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("RANK " + rank + " is outside [0, WORLD_SIZE " + worldSize + ")");
        }
        if (localWorldSize < 1 || localRank < 0 || localRank >= localWorldSize) {
            throw new IllegalArgumentException("LOCAL_RANK " + localRank + " is outside [0, LOCAL_WORLD_SIZE "
                    + localWorldSize + ")");
        }
        if (worldSize > 1 && (masterAddr == null || masterAddr.isBlank())) {
            throw new IllegalArgumentException("MASTER_ADDR is not set (the host of rank 0)");
        }
        if (worldSize > 1 && (masterPort < 1 || masterPort > 65535)) {
            throw new IllegalArgumentException("MASTER_PORT must be in [1, 65535], got " + masterPort);
        }
    }

    /** One process on its own: no process group. */
    public static LaunchEnvironment single() {
        return new LaunchEnvironment(0, 1, 0, 1, null, 0);
    }

    public boolean isDistributed() {
        return worldSize > 1;
    }

    /** The environment of this process. */
    public static LaunchEnvironment fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /**
     * Reads a launch environment; {@link #single()} when neither {@code WORLD_SIZE} nor Slurm's task count says
     * there is more than one process. Malformed values are an {@link IllegalArgumentException} naming the variable.
     */
    public static LaunchEnvironment fromEnvironment(Map<String, String> env) {
        boolean torchrun = env.containsKey("WORLD_SIZE") || env.containsKey("RANK");
        boolean slurm = !torchrun && env.containsKey("SLURM_PROCID") && env.containsKey("SLURM_NTASKS");
        if (!torchrun && !slurm) {
            return single();
        }
        int world = torchrun ? integer(env, "WORLD_SIZE", null) : integer(env, "SLURM_NTASKS", null);
        int rank = torchrun ? integer(env, "RANK", null) : integer(env, "SLURM_PROCID", null);
        int localRank;
        int localWorld;
        if (torchrun) {
            localRank = integer(env, "LOCAL_RANK", rank < world ? String.valueOf(rank) : "0");
            localWorld = integer(env, "LOCAL_WORLD_SIZE", String.valueOf(world));
        } else {
            localRank = integer(env, "SLURM_LOCALID", "0");
            localWorld = slurmTasksPerNode(env.get("SLURM_NTASKS_PER_NODE"), world);
        }
        if (world == 1) {
            return new LaunchEnvironment(rank, 1, localRank, Math.max(localWorld, localRank + 1), null, 0);
        }
        String addr = env.get("MASTER_ADDR");
        int port = integer(env, "MASTER_PORT", null);
        return new LaunchEnvironment(rank, world, localRank, localWorld, addr, port);
    }

    // SLURM_NTASKS_PER_NODE looks like "4" or "4(x2)" or "4(x2),3"; the first node's count is enough for a local size.
    private static int slurmTasksPerNode(String value, int world) {
        if (value == null || value.isBlank()) {
            return world;
        }
        String first = value.split("[(,]")[0].trim();
        try {
            return Integer.parseInt(first);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("SLURM_NTASKS_PER_NODE '" + value + "' is not a task count");
        }
    }

    private static int integer(Map<String, String> env, String name, String fallback) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            if (fallback == null) {
                throw new IllegalArgumentException(name + " is not set (a data-parallel launch sets RANK, WORLD_SIZE,"
                        + " MASTER_ADDR and MASTER_PORT)");
            }
            v = fallback;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " '" + v + "' is not an integer");
        }
    }

    @Override
    public String toString() {
        return isDistributed() ? "rank " + rank + " of " + worldSize + " (local " + localRank + " of " + localWorldSize
                + "), store " + masterAddr + ":" + masterPort : "one process";
    }
}
