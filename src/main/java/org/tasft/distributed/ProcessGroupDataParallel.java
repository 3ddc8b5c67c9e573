package org.tasft.distributed;

import java.io.PrintStream;
import java.util.Locale;
import java.util.Map;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.TCPStore;
import org.bytedeco.pytorch.Tensor;

/**
 * Data parallelism on PyTorch's own distributed engine (c10d, through the Bytedeco presets), composed of: the
 * {@link Rendezvous} on rank 0's {@code TCPStore}; the {@link CollectiveBackend} (Gloo for CPU tensors, NCCL for CUDA
 * tensors) and the {@link Collectives} run on it; the {@link GradientSync} (buckets after the backward pass, or c10d's
 * DDP {@code Reducer} during it); the {@link ConfigCheck} of the ranks' options; and, for failures, each rank's
 * {@link RankHealth} in the store (which names the rank that stopped or hangs) and its {@link Watchdog} (which stops a
 * rank stuck outside a collective once another has failed, or once rank 0's store is gone).
 */
public final class ProcessGroupDataParallel implements DataParallel {
    private final LaunchEnvironment env;
    private final DistributedOptions options;
    private final PrintStream log;
    private final TCPStore store;
    private final RankHealth health;
    private final Watchdog watchdog;
    private final ConfigCheck configCheck;
    private final FaultInjection fault;

    private boolean attached;
    private Collectives collectives;
    private GradientSync gradients;
    private long syncs;
    private long syncNanos;
    private boolean closed;

    private ProcessGroupDataParallel(LaunchEnvironment env, DistributedOptions options, PrintStream log,
            TCPStore store) {
        this.env = env;
        this.options = options;
        this.log = log;
        this.store = store;
        this.health = new RankHealth(new RankRecords(store, env.rank(), env.worldSize()), env, options.timeout());
        this.watchdog = new Watchdog(health, RankHealth.HEARTBEAT, Watchdog.STUCK_AFTER, Watchdog.HALT_JVM);
        this.configCheck = new ConfigCheck(store, env.rank(), env.worldSize(), options.timeout());
        this.fault = FaultInjection.fromEnvironment();
    }

    /**
     * Joins the job: rank 0 opens the rendezvous store on {@code MASTER_PORT}, the others connect to it, and all wait
     * until every rank has joined (at most {@link DistributedOptions#timeout()}; the error names the missing ranks).
     * The communication backend is created by {@link #attach}, once the parameters' device is known.
     */
    public static ProcessGroupDataParallel connect(LaunchEnvironment env, DistributedOptions options,
            PrintStream log) {
        if (!env.isDistributed()) {
            throw new IllegalArgumentException("connect: " + env + " needs no process group");
        }
        ProcessGroupDataParallel dp = new ProcessGroupDataParallel(env, options, log,
                Rendezvous.openStore(env, options.timeout()));
        dp.health.register();
        Rendezvous.join(dp.store, env, options.timeout());
        dp.watchdog.start();
        return dp;
    }

    @Override
    public int rank() {
        return env.rank();
    }

    @Override
    public int worldSize() {
        return env.worldSize();
    }

    public LaunchEnvironment environment() {
        return env;
    }

    /** The communication backend's name once {@link #attach} has created it ("gloo", "nccl"), else "". */
    public String backendName() {
        return collectives == null ? "" : collectives.backend().name();
    }

    @Override
    public void attach(Map<String, Tensor> named) {
        if (attached) {
            throw new IllegalStateException("attach: already attached");
        }
        if (named.isEmpty()) {
            throw new IllegalArgumentException("attach: no trainable parameters");
        }
        attached = true;
        collectives = new Collectives(createBackend(named.values().iterator().next().device()), health);
        // The same start on every rank (as DDP does): rank 0's values win.
        try (NoGradGuard g = new NoGradGuard()) {
            int i = 0;
            for (Tensor p : named.values()) {
                collectives.broadcastFromRank0("broadcast of the initial parameters (" + (i++) + ")", p);
            }
        }
        gradients = GradientSync.create(options, named, env, collectives);
        info(gradients.describe());
    }

    private CollectiveBackend createBackend(Device paramDevice) {
        DistributedOptions.Backend which = CollectiveBackend.choose(options.backend(), paramDevice.is_cuda());
        health.doing("creating the " + which.name().toLowerCase(Locale.ROOT) + " process group");
        CollectiveBackend backend;
        try {
            backend = CollectiveBackend.create(which, store, env, options.timeout(), paramDevice);
        } catch (IllegalArgumentException | RankFailureException e) {
            throw e;
        } catch (RuntimeException e) {
            throw health.fail(health.current(), e);
        }
        health.backendCreated(backend.name());
        info(env + ", backend " + backend.name() + ", timeout " + options.timeout().toSeconds() + " s");
        return backend;
    }

    @Override
    public double[] sum(double... values) {
        requireBackend("sum");
        return collectives.sum(values);
    }

    @Override
    public void beforeBackward(boolean lastOfStep) {
        requireBackend("beforeBackward");
        gradients.beforeBackward(lastOfStep);
    }

    @Override
    public void averageGradients(long step) {
        requireBackend("averageGradients");
        if (fault != null) {
            fault.maybeFail(env.rank(), step);
        }
        String what = "step " + (step + 1) + "'s gradient all-reduce";
        long t0 = System.nanoTime();
        try {
            health.doing(what); // the Reducer's wait runs no collective of its own that would name it
            gradients.average(what);
        } finally {
            syncs++;
            syncNanos += System.nanoTime() - t0;
        }
    }

    @Override
    public void checkSame(String what, String value) {
        try {
            configCheck.check(what, value);
        } catch (IllegalArgumentException e) {
            throw e;
        } catch (RuntimeException e) {
            throw health.fail("comparing the " + what, e);
        }
    }

    @Override
    public void barrier(String what) {
        requireBackend("barrier");
        collectives.barrier(what, options.writeTimeout());
    }

    @Override
    public RuntimeException failed(RuntimeException error) {
        if (error instanceof RankFailureException) {
            return error; // already diagnosed and reported
        }
        health.markFailing();
        if (C10dErrors.isCommunicationFailure(error, collectives == null ? null
                : collectives.backend().errorStatus())) {
            // Collectives throw RankFailureException themselves: a raw one while the Reducer is armed came from its
            // all-reduces inside the backward pass.
            return health.fail(gradients != null && gradients.reducingInBackward()
                    ? "the gradient all-reduce during the backward pass (c10d Reducer)" : health.current(), error);
        }
        health.report(error);
        return error;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        watchdog.stop();
        if (health.failing() || collectives == null) {
            return; // peers may be gone: no goodbye that could hang
        }
        if (syncs > 0) {
            info(gradients.summary(syncs, syncNanos, env.worldSize()));
        }
        // Rank 0 hosts the store: it leaves last, after everyone has passed this barrier.
        collectives.barrier("the final barrier", options.writeTimeout());
        if (gradients != null) {
            gradients.close();
        }
    }

    private void requireBackend(String what) {
        if (collectives == null) {
            throw new IllegalStateException(what + ": call attach(params) first");
        }
        if (closed) {
            throw new IllegalStateException(what + ": closed");
        }
    }

    private void info(String message) {
        if (env.rank() == 0 && log != null) {
            log.println("tasft train: " + message);
        }
    }

    @Override
    public String toString() {
        return env + (backendName().isEmpty() ? "" : ", " + backendName());
    }
}
