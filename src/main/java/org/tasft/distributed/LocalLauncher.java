package org.tasft.distributed;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Starts the local ranks of a data-parallel job as child JVMs, as torchrun does: each child runs the same main class
 * and arguments with {@code RANK}, {@code LOCAL_RANK}, {@code WORLD_SIZE}, {@code LOCAL_WORLD_SIZE},
 * {@code MASTER_ADDR} and {@code MASTER_PORT} set (and {@code OMP_NUM_THREADS} = cores / local ranks unless set).
 * Rank 0 of this node writes straight to this process's stdout and stderr; the others' lines are prefixed
 * {@code [rank r]}. With a log folder, each rank's output goes to {@code rank-<r>.log} there instead.
 *
 * <p><b>Failures.</b> When a child exits with a non-zero code, the others get {@code grace} to stop by themselves
 * (they do, within their collective timeout, with an error naming the rank) and are then terminated; the launcher
 * returns the first failing child's exit code and names it. Ending the launcher (Ctrl-C, SIGTERM) ends the children.
 */
public final class LocalLauncher {
    /**
     * What to start.
     *
     * @param command        the child's command line up to and including the main class (see {@link #javaCommand})
     * @param args           the arguments after it
     * @param nprocPerNode   ranks on this machine
     * @param nnodes         machines in the job
     * @param nodeRank       this machine's index: its ranks are nodeRank * nprocPerNode + local rank
     * @param masterAddr     rank 0's host (127.0.0.1 for one machine)
     * @param masterPort     rank 0's store port; 0 = pick a free one (one machine only)
     * @param grace          how long the other children may take to stop after one failed
     * @param env            extra environment variables for every child
     * @param logDir         null, or a folder for {@code rank-<r>.log} (stdout and stderr of each rank)
     */
    public record Spec(List<String> command, List<String> args, int nprocPerNode, int nnodes, int nodeRank,
            String masterAddr, int masterPort, Duration grace, Map<String, String> env, Path logDir) {
        public Spec {
            if (nprocPerNode < 1) {
                throw new IllegalArgumentException("--nproc-per-node must be >= 1, got " + nprocPerNode);
            }
            if (nnodes < 1 || nodeRank < 0 || nodeRank >= nnodes) {
                throw new IllegalArgumentException("--node-rank " + nodeRank + " is outside [0, --nnodes " + nnodes
                        + ")");
            }
            if (nnodes > 1 && masterPort == 0) {
                throw new IllegalArgumentException("--master-port is required with --nnodes > 1");
            }
            if (nnodes > 1 && (masterAddr == null || masterAddr.isBlank())) {
                throw new IllegalArgumentException("--master-addr is required with --nnodes > 1");
            }
            command = List.copyOf(command);
            args = List.copyOf(args);
            env = Map.copyOf(env == null ? Map.of() : env);
        }

        /** One machine, a free port, 30 s grace, no extra environment, output to the console. */
        public static Spec local(List<String> command, List<String> args, int nprocPerNode) {
            return new Spec(command, args, nprocPerNode, 1, 0, null, 0, Duration.ofSeconds(30), Map.of(), null);
        }
    }

    private LocalLauncher() {
    }

    /** This JVM's java executable, JVM options and class path, then {@code mainClass}. */
    public static List<String> javaCommand(String mainClass, String classPath) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(
                System.getProperty("java.home") + "/bin/java"));
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-agentlib:jdwp")) { // one debugger port cannot serve several JVMs
                cmd.add(a);
            }
        }
        cmd.add("-cp");
        cmd.add(classPath);
        cmd.add(mainClass);
        return cmd;
    }

    /** A port that was free a moment ago on the loopback address. */
    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free port for MASTER_PORT", e);
        }
    }

    /** Starts the ranks, waits for them, returns the exit code (0, or the first failing rank's). */
    public static int run(Spec spec, PrintStream err) {
        int world = spec.nprocPerNode() * spec.nnodes();
        String addr = spec.masterAddr() == null || spec.masterAddr().isBlank() ? "127.0.0.1" : spec.masterAddr();
        int port = spec.masterPort() == 0 ? freePort() : spec.masterPort();
        int cores = Runtime.getRuntime().availableProcessors();
        List<Process> children = new ArrayList<>();
        List<Integer> ranks = new ArrayList<>();
        Thread killer = new Thread(() -> children.forEach(LocalLauncher::terminate), "tasft-launcher-shutdown");
        Runtime.getRuntime().addShutdownHook(killer);
        List<Thread> pumps = new ArrayList<>();
        try {
            for (int local = 0; local < spec.nprocPerNode(); local++) {
                int rank = spec.nodeRank() * spec.nprocPerNode() + local;
                List<String> cmd = new ArrayList<>(spec.command());
                cmd.addAll(spec.args());
                ProcessBuilder pb = new ProcessBuilder(cmd);
                Map<String, String> env = pb.environment();
                env.putAll(spec.env());
                env.put("RANK", String.valueOf(rank));
                env.put("LOCAL_RANK", String.valueOf(local));
                env.put("WORLD_SIZE", String.valueOf(world));
                env.put("LOCAL_WORLD_SIZE", String.valueOf(spec.nprocPerNode()));
                env.put("GROUP_RANK", String.valueOf(spec.nodeRank()));
                env.put("MASTER_ADDR", addr);
                env.put("MASTER_PORT", String.valueOf(port));
                // As torchrun: ranks sharing a machine share its cores.
                env.putIfAbsent("OMP_NUM_THREADS", String.valueOf(Math.max(1, cores / spec.nprocPerNode())));
                if (spec.logDir() != null) {
                    try {
                        Files.createDirectories(spec.logDir());
                    } catch (IOException e) {
                        throw new UncheckedIOException("cannot create the log folder " + spec.logDir(), e);
                    }
                    pb.redirectErrorStream(true);
                    pb.redirectOutput(spec.logDir().resolve("rank-" + rank + ".log").toFile());
                } else if (local == 0) {
                    pb.inheritIO();
                } else {
                    pb.redirectInput(ProcessBuilder.Redirect.INHERIT);
                    pb.redirectErrorStream(true);
                }
                Process p;
                try {
                    p = pb.start();
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot start rank " + rank + ": " + String.join(" ", cmd), e);
                }
                children.add(p);
                ranks.add(rank);
                if (local != 0 && spec.logDir() == null) {
                    pumps.add(pump(p.getInputStream(), "[rank " + rank + "] ", err));
                }
            }
            return await(children, ranks, spec.grace(), err);
        } finally {
            children.forEach(LocalLauncher::terminate);
            for (Thread t : pumps) {
                try {
                    t.join(2_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            try {
                Runtime.getRuntime().removeShutdownHook(killer);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it ends the children
            }
        }
    }

    private static int await(List<Process> children, List<Integer> ranks, Duration grace, PrintStream err) {
        // Exits in the order the JVM's process reaper sees them: "first" means first.
        BlockingQueue<Integer> exits = new LinkedBlockingQueue<>();
        for (int i = 0; i < children.size(); i++) {
            int index = i;
            children.get(i).onExit().thenRun(() -> exits.add(index));
        }
        Map<Integer, Integer> codes = new HashMap<>();
        int firstFailed = -1;
        long deadline = Long.MAX_VALUE;
        while (codes.size() < children.size()) {
            Integer i;
            try {
                long wait = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : Math.max(0, deadline - System.nanoTime());
                i = exits.poll(wait, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                children.forEach(LocalLauncher::terminate);
                return 130;
            }
            if (i == null) { // the grace period is over
                List<Integer> left = new ArrayList<>();
                for (int j = 0; j < children.size(); j++) {
                    if (!codes.containsKey(j)) {
                        left.add(ranks.get(j));
                        terminate(children.get(j));
                        codes.put(j, children.get(j).exitValue());
                    }
                }
                err.println("tasft train: error: rank(s) " + left + " had not stopped " + grace.toSeconds()
                        + " s after rank " + ranks.get(firstFailed) + " failed: terminated them");
                break;
            }
            int code = children.get(i).exitValue();
            codes.put(i, code);
            if (code != 0 && firstFailed < 0) {
                firstFailed = i;
                deadline = System.nanoTime() + grace.toNanos();
            }
        }
        if (firstFailed < 0) {
            return 0;
        }
        StringBuilder all = new StringBuilder();
        for (int i = 0; i < children.size(); i++) {
            all.append(i == 0 ? "" : ", ").append("rank ").append(ranks.get(i)).append(": ").append(codes.get(i));
        }
        int code = codes.get(firstFailed);
        err.println("tasft train: error: rank " + ranks.get(firstFailed) + " (pid " + children.get(firstFailed).pid()
                + ") failed first, with exit code " + code + " (exit codes: " + all + ")");
        err.flush();
        return code;
    }

    /** SIGTERM, then SIGKILL after 5 s. */
    private static void terminate(Process p) {
        if (!p.isAlive()) {
            return;
        }
        p.destroy();
        try {
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private static Thread pump(InputStream in, String prefix, PrintStream out) {
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    synchronized (out) {
                        out.println(prefix + line);
                        out.flush();
                    }
                }
            } catch (IOException e) {
                // the child is gone
            }
        }, "tasft-launcher-" + prefix.trim());
        t.setDaemon(true);
        t.start();
        return t;
    }
}
