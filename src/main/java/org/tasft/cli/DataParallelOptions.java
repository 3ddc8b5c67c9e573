package org.tasft.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import org.tasft.distributed.DataParallel;
import org.tasft.distributed.DistributedOptions;
import org.tasft.distributed.LaunchEnvironment;
import org.tasft.distributed.LocalLauncher;
import org.tasft.distributed.ProcessGroupDataParallel;
import picocli.CommandLine.Option;

/**
 * The data-parallel options of {@code tasft train} and what they do: {@code --nproc-per-node N} makes this process
 * a launcher of N ranks ({@link LocalLauncher}); a process started with {@code RANK}/{@code WORLD_SIZE} in its
 * environment (by that launcher, torchrun, Slurm) joins the process group ({@link ProcessGroupDataParallel}).
 */
final class DataParallelOptions {
    @Option(names = "--nproc-per-node", paramLabel = "N", description = "Start N data-parallel ranks on this machine "
            + "(child JVMs; as torchrun; default with --device cuda: one per visible GPU). Without it, a process "
            + "launched with RANK/WORLD_SIZE set joins that job.")
    Integer nprocPerNode;

    @Option(names = "--nnodes", paramLabel = "N", defaultValue = "1",
            description = "With --nproc-per-node: machines in the job (default: ${DEFAULT-VALUE}).")
    int nnodes;

    @Option(names = "--node-rank", paramLabel = "I", defaultValue = "0",
            description = "With --nnodes: this machine's index, 0 .. nnodes - 1 (default: ${DEFAULT-VALUE}).")
    int nodeRank;

    @Option(names = "--master-addr", paramLabel = "HOST", description = "With --nnodes: node 0's host.")
    String masterAddr;

    @Option(names = "--master-port", paramLabel = "PORT", defaultValue = "0",
            description = "With --nproc-per-node: rank 0's store port (default: ${DEFAULT-VALUE}, a free one; "
                    + "required with --nnodes).")
    int masterPort;

    @Option(names = "--log-dir", paramLabel = "DIR",
            description = "With --nproc-per-node: write each rank's output to DIR/rank-<r>.log instead of the console.")
    Path logDir;

    @Option(names = "--dist-backend", paramLabel = "B", defaultValue = "auto",
            description = "auto | gloo | nccl (auto: nccl for CUDA parameters, else gloo; default: "
                    + "${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--dist-timeout", paramLabel = "SECONDS", defaultValue = "600",
            description = "How long a rank waits for the others in a collective before it stops, naming the ranks "
                    + "that did not arrive (default: ${DEFAULT-VALUE}).")
    long timeoutSeconds;

    @Option(names = "--grad-sync", paramLabel = "MODE", defaultValue = "bucketed",
            description = "bucketed (after backward) | reducer (c10d's DDP Reducer, overlapped with backward; "
                    + "default: ${DEFAULT-VALUE}).")
    String sync;

    @Option(names = "--bucket-mb", paramLabel = "MB", defaultValue = "25",
            description = "Gradient bucket size in MiB (default: ${DEFAULT-VALUE}).")
    double bucketMb;

    /** True when this process should launch the ranks rather than train. */
    boolean launches() {
        return nprocPerNode != null;
    }

    /** Runs the launcher with this command line minus the launcher's own options; returns the exit code. */
    int launch(List<String> originalArgs, PrintStream err) {
        checkedRanks(); // bad values fail here, once, not in every child
        List<String> args = withoutLauncherOptions(originalArgs);
        String cp = System.getProperty("java.class.path");
        LocalLauncher.Spec spec = new LocalLauncher.Spec(LocalLauncher.javaCommand(Main.class.getName(), cp), args,
                nprocPerNode, nnodes, nodeRank, masterAddr, masterPort, Duration.ofSeconds(30), Map.of(), logDir);
        return LocalLauncher.run(spec, err);
    }

    /**
     * The number of ranks of the job this launcher starts ranks of (--nproc-per-node x --nnodes), after checking the
     * launcher's and the process group's options: what every child would refuse is refused once, here.
     */
    int checkedRanks() {
        if (nprocPerNode < 1) {
            throw new UsageException("--nproc-per-node must be >= 1, got " + nprocPerNode);
        }
        if (nnodes < 1) {
            throw new UsageException("--nnodes must be >= 1, got " + nnodes);
        }
        if (nodeRank < 0 || nodeRank >= nnodes) {
            throw new UsageException("--node-rank " + nodeRank + " is outside [0, --nnodes " + nnodes + ")");
        }
        options();
        return nprocPerNode * nnodes;
    }

    /** How the ranks were asked for, for messages: "--nproc-per-node 3" or "--nproc-per-node 2 x --nnodes 2". */
    String ranksOption() {
        return "--nproc-per-node " + nprocPerNode + (nnodes > 1 ? " x --nnodes " + nnodes : "");
    }

    /** Connects to the job this process was launched into, or {@link DataParallel#SINGLE_PROCESS}. */
    DataParallel join(PrintStream log) {
        LaunchEnvironment env = LaunchEnvironment.fromEnvironment();
        if (!env.isDistributed()) {
            return DataParallel.SINGLE_PROCESS;
        }
        return ProcessGroupDataParallel.connect(env, options(), log);
    }

    /** Runs {@code body} as this rank; ends the process group (final barrier) on success, reports failures. */
    static <T> T runAs(DataParallel dp, Function<DataParallel, T> body) {
        T result;
        try {
            result = body.apply(dp);
        } catch (RuntimeException e) {
            throw dp.failed(e);
        }
        dp.close();
        return result;
    }

    DistributedOptions options() {
        if (timeoutSeconds < 1) {
            throw new UsageException("--dist-timeout must be >= 1 second, got " + timeoutSeconds);
        }
        if (!(bucketMb > 0) || Double.isInfinite(bucketMb)) {
            throw new UsageException("--bucket-mb must be > 0, got " + bucketMb);
        }
        Duration timeout = Duration.ofSeconds(timeoutSeconds);
        DistributedOptions defaults = DistributedOptions.defaults();
        return defaults.withBackend(DistributedOptions.Backend.parse(backend)).withTimeout(timeout)
                .withWriteTimeout(timeout.compareTo(defaults.writeTimeout()) > 0 ? timeout : defaults.writeTimeout())
                .withBucketBytes(Math.max(1, Math.round(bucketMb * 1048576.0)))
                .withSync(DistributedOptions.GradientSync.parse(sync));
    }

    private static final List<String> LAUNCHER_OPTIONS = List.of("--nproc-per-node", "--nnodes", "--node-rank",
            "--master-addr", "--master-port", "--log-dir");

    static List<String> withoutLauncherOptions(List<String> args) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
            if (LAUNCHER_OPTIONS.contains(name)) {
                if (!a.contains("=")) {
                    i++; // its value
                }
                continue;
            }
            out.add(a);
        }
        return out;
    }
}
