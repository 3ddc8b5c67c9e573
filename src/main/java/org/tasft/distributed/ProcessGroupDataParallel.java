package org.tasft.distributed;

import java.io.PrintStream;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.bytedeco.javacpp.SizeTPointer;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.AllreduceOptions;
import org.bytedeco.pytorch.Backend;
import org.bytedeco.pytorch.BarrierOptions;
import org.bytedeco.pytorch.BroadcastOptions;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.GlooDeviceVector;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.ProcessGroupGloo;
import org.bytedeco.pytorch.ReduceOp;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.StringVector;
import org.bytedeco.pytorch.TCPStore;
import org.bytedeco.pytorch.TCPStoreOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.Work;
import org.bytedeco.pytorch.global.torch;

/**
 * Data parallelism on PyTorch's own distributed engine (c10d, through the Bytedeco presets): a {@code TCPStore} on
 * rank 0 for the rendezvous, {@code ProcessGroupGloo} (CPU tensors) or {@code ProcessGroupNCCL} (CUDA tensors) for
 * the collectives, and gradients averaged in buckets ({@link GradientBuckets}) or by c10d's own DDP
 * {@code Reducer} ({@link ReducerGradients}).
 *
 * <p><b>Failures.</b> Gloo and NCCL report a dead peer as "connection closed" and a hung one as a timeout, without
 * saying which rank. So, through the store: every rank records the collective it is entering
 * ({@code tasft/progress/<rank>}), a watchdog thread bumps a heartbeat counter every second
 * ({@code tasft/alive/<rank>}), and a failing rank records why ({@code tasft/failed/<rank>}). When a collective fails,
 * the rank reads these and names the culprit: a rank that reported a failure, else one whose heartbeat stopped
 * (exited or killed), else one still alive that did not reach the collective (hangs); an unreachable store means
 * rank 0 (its host) is gone. The watchdog also stops a rank that is stuck outside a collective once another rank
 * has failed (or once rank 0's store is gone), so that no process lingers.
 */
public final class ProcessGroupDataParallel implements DataParallel {
    private static final String KEY = "tasft/";
    private static final Duration HEARTBEAT = Duration.ofSeconds(1);
    private static final Duration DIAGNOSIS_TIMEOUT = Duration.ofSeconds(3);

    private final LaunchEnvironment env;
    private final DistributedOptions options;
    private final PrintStream log;
    private final TCPStore store;
    private final FaultInjection fault;
    private final Thread watchdog;

    private Backend backend;
    private String backendName = "";
    private Device device;
    private GradientBuckets buckets;
    private ReducerGradients reducer;
    private Map<String, Tensor> params;
    private long sequence;
    private long syncs;
    private long syncNanos;
    private String current = "start";
    private int checks;
    private volatile boolean failing;
    private volatile boolean closing;
    private boolean closed;

    private ProcessGroupDataParallel(LaunchEnvironment env, DistributedOptions options, PrintStream log,
            TCPStore store) {
        this.env = env;
        this.options = options;
        this.log = log;
        this.store = store;
        this.fault = FaultInjection.fromEnvironment();
        this.watchdog = new Thread(this::watch, "tasft-rank-" + env.rank() + "-watchdog");
        watchdog.setDaemon(true);
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
        TCPStore store = openStore(env, options.timeout());
        ProcessGroupDataParallel dp = new ProcessGroupDataParallel(env, options, log, store);
        dp.rendezvous();
        dp.watchdog.start();
        return dp;
    }

    private static TCPStore openStore(LaunchEnvironment env, Duration timeout) {
        TCPStoreOptions o = new TCPStoreOptions();
        o.port((short) env.masterPort());
        o.isServer(env.rank() == 0);
        o.numWorkers(new SizeTPointer(1).put(env.worldSize()));
        o.waitWorkers(false);
        o.timeout(new Milliseconds(timeout.toMillis()));
        try {
            return new TCPStore(env.masterAddr(), o);
        } catch (RuntimeException e) {
            if (env.rank() == 0) {
                throw new RankFailureException("rank 0 could not open the rendezvous store on port "
                        + env.masterPort() + " (another job on MASTER_PORT?): " + shortMessage(e), List.of(0), e);
            }
            throw new RankFailureException("rank " + env.rank() + " could not reach rank 0's rendezvous store at "
                    + env.masterAddr() + ":" + env.masterPort() + " within " + timeout.toSeconds() + " s: "
                    + shortMessage(e), List.of(0), e);
        }
    }

    private void rendezvous() {
        String me;
        try {
            me = InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            me = "?";
        }
        store.set(KEY + "join/" + env.rank(), me + " pid " + ProcessHandle.current().pid());
        store.set(KEY + "alive/" + env.rank(), "0");
        List<String> keys = new ArrayList<>();
        for (int r = 0; r < env.worldSize(); r++) {
            keys.add(KEY + "join/" + r);
        }
        try {
            store._wait(new StringVector(keys.toArray(new String[0])), new Milliseconds(options.timeout().toMillis()));
        } catch (RuntimeException e) {
            List<Integer> missing = new ArrayList<>();
            try {
                for (int r = 0; r < env.worldSize(); r++) {
                    if (!store.check(new StringVector(keys.get(r)))) {
                        missing.add(r);
                    }
                }
            } catch (RuntimeException storeGone) {
                missing = List.of(0);
            }
            throw new RankFailureException("rank " + env.rank() + ": rank(s) " + join(missing) + " did not join within "
                    + options.timeout().toSeconds() + " s (rendezvous store " + env.masterAddr() + ":"
                    + env.masterPort() + ", WORLD_SIZE " + env.worldSize() + ")", missing, e);
        }
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
        return backendName;
    }

    @Override
    public void attach(Map<String, Tensor> named) {
        if (params != null) {
            throw new IllegalStateException("attach: already attached");
        }
        if (named.isEmpty()) {
            throw new IllegalArgumentException("attach: no trainable parameters");
        }
        this.params = new LinkedHashMap<>(named);
        Device paramDevice = named.values().iterator().next().device();
        createBackend(paramDevice);
        // The same start on every rank (as DDP does): rank 0's values win.
        try (NoGradGuard g = new NoGradGuard()) {
            int i = 0;
            for (Tensor p : named.values()) {
                Tensor target = p;
                collective("broadcast of the initial parameters (" + (i++) + ")", () -> backend.broadcast(
                        new TensorVector(target), new BroadcastOptions().rootRank(0))._wait());
            }
        }
        if (options.sync() == DistributedOptions.GradientSync.REDUCER) {
            reducer = new ReducerGradients(named, options.bucketBytes(), env.rank(), env.worldSize(), backend,
                    paramDevice);
            info("c10d Reducer: " + reducer.bucketCount() + " bucket(s), " + mib(reducer.totalBytes())
                    + " of gradients, overlapped with the backward pass");
        } else {
            buckets = new GradientBuckets(named, options.bucketBytes());
            info(buckets.buckets().size() + " gradient bucket(s) of <= " + mib(options.bucketBytes()) + ", "
                    + mib(buckets.totalBytes()) + " all-reduced per step");
        }
    }

    private void createBackend(Device paramDevice) {
        DistributedOptions.Backend b = options.backend();
        if (b == DistributedOptions.Backend.AUTO) {
            b = paramDevice.is_cuda() ? DistributedOptions.Backend.NCCL : DistributedOptions.Backend.GLOO;
        }
        Milliseconds timeout = new Milliseconds(options.timeout().toMillis());
        current = "creating the " + b.name().toLowerCase(Locale.ROOT) + " process group";
        try {
            if (b == DistributedOptions.Backend.NCCL) {
                backend = Nccl.create(store, env, timeout, paramDevice);
                device = paramDevice;
            } else {
                if (paramDevice.is_cuda()) {
                    throw new IllegalArgumentException("--dist-backend gloo: the parameters are on " + paramDevice.str()
                            .getString() + "; gloo here reduces CPU tensors (use nccl)");
                }
                ProcessGroupGloo.Options go = new ProcessGroupGloo.Options(timeout);
                GlooDeviceVector devices = new GlooDeviceVector();
                devices.push_back(glooDevice(env));
                go.devices(devices);
                backend = new ProcessGroupGloo(store, env.rank(), env.worldSize(), go);
                device = new Device(torch.DeviceType.CPU);
            }
        } catch (IllegalArgumentException | RankFailureException e) {
            throw e;
        } catch (RuntimeException e) {
            throw fail(current, e);
        }
        backendName = backend.getBackendName().getString();
        info(env + ", backend " + backendName + ", timeout " + options.timeout().toSeconds() + " s");
    }

    // Which network interface Gloo uses: GLOO_SOCKET_IFNAME as in PyTorch; loopback for a one-machine job on
    // 127.0.0.1; else the address this host's name resolves to.
    private static org.bytedeco.pytorch.gloo.Device glooDevice(LaunchEnvironment env) {
        String ifname = System.getenv("GLOO_SOCKET_IFNAME");
        if (ifname != null && !ifname.isBlank()) {
            return ProcessGroupGloo.createDeviceForInterface(ifname.split(",")[0].trim());
        }
        String addr = env.masterAddr();
        if (addr.equals("127.0.0.1") || addr.equals("localhost") || addr.equals("::1")) {
            return ProcessGroupGloo.createDeviceForHostname("127.0.0.1");
        }
        return ProcessGroupGloo.createDefaultDevice();
    }

    @Override
    public double[] sum(double... values) {
        requireBackend("sum");
        Tensor host = torch.empty(new long[] {values.length}, new TensorOptions(torch.ScalarType.Double),
                new MemoryFormatOptional());
        host.data_ptr_double().put(values);
        Tensor t = device.is_cuda() ? host.to(device, torch.ScalarType.Double) : host;
        collective("sum of " + values.length + " value(s)",
                () -> backend.allreduce(new TensorVector(t), sumOp())._wait());
        double[] out = new double[values.length];
        t.cpu().contiguous().data_ptr_double().get(out);
        return out;
    }

    @Override
    public void beforeBackward(boolean lastOfStep) {
        requireBackend("beforeBackward");
        if (reducer != null && lastOfStep) {
            reducer.prepareForBackward();
        }
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
            reduceGradients(what);
        } finally {
            syncs++;
            syncNanos += System.nanoTime() - t0;
        }
    }

    private void reduceGradients(String what) {
        if (reducer != null) {
            current = what;
            reducer.checkFinished(what); // it reduced during the step's last backward pass
            return;
        }
        Tensor flags = buckets.definedFlags();
        collective(what + " (gradient flags)", () -> backend.allreduce(new TensorVector(flags), sumOp())._wait());
        buckets.pack();
        collective(what, () -> {
            // All buckets in flight at once (Gloo and NCCL run them in order), then wait for each.
            List<Work> works = new ArrayList<>();
            buckets.forEachBuffer(flat -> works.add(backend.allreduce(new TensorVector(flat), sumOp())));
            for (Work w : works) {
                w._wait();
            }
        });
        buckets.unpack(env.worldSize(), flags);
    }

    @Override
    public void checkSame(String what, String value) {
        int n = checks++;
        String base = KEY + "check/" + n + "/";
        String verdictKey = base + "verdict";
        try {
            store.set(base + env.rank(), value);
            if (env.rank() == 0) {
                List<String> keys = new ArrayList<>();
                for (int r = 0; r < env.worldSize(); r++) {
                    keys.add(base + r);
                }
                store._wait(new StringVector(keys.toArray(new String[0])),
                        new Milliseconds(options.timeout().toMillis()));
                List<Integer> differ = new ArrayList<>();
                for (int r = 1; r < env.worldSize(); r++) {
                    if (!store.get_to_str(base + r).equals(value)) {
                        differ.add(r);
                    }
                }
                store.set(verdictKey, differ.isEmpty() ? "ok" : join(differ));
            }
            store._wait(new StringVector(verdictKey), new Milliseconds(options.timeout().toMillis()));
            String verdict = store.get_to_str(verdictKey);
            if (!verdict.equals("ok")) {
                throw new IllegalArgumentException("rank(s) " + verdict + " run with other " + what
                        + " than rank 0: every rank must get the same command line");
            }
        } catch (IllegalArgumentException e) {
            throw e;
        } catch (RuntimeException e) {
            throw fail("comparing the " + what, e);
        }
    }

    @Override
    public void barrier(String what) {
        requireBackend("barrier");
        BarrierOptions o = new BarrierOptions();
        o.timeout(new Milliseconds(options.writeTimeout().toMillis()));
        collective(what, () -> backend.barrier(o)._wait());
    }

    @Override
    public RuntimeException failed(RuntimeException error) {
        if (error instanceof RankFailureException) {
            return error; // already diagnosed and reported
        }
        failing = true;
        RuntimeException out = error;
        if (looksLikeCommunication(error)) {
            // Collectives throw RankFailureException themselves: a raw one while the Reducer is armed came from its
            // all-reduces inside the backward pass.
            out = fail(reducer != null && reducer.armed()
                    ? "the gradient all-reduce during the backward pass (c10d Reducer)" : current, error);
        } else {
            report(error);
        }
        return out;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        closing = true;
        watchdog.interrupt();
        try {
            watchdog.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (failing || backend == null) {
            return; // peers may be gone: no goodbye that could hang
        }
        if (syncs > 0) {
            long bytes = buckets != null ? buckets.totalBytes() : reducer.totalBytes();
            double ms = syncNanos / 1e6 / syncs;
            info(String.format(Locale.ROOT, "gradient sync: %d steps, %.1f ms per step after the backward pass "
                    + "(%s per step%s)", syncs, ms, mib(bytes), reducer != null ? ", the rest overlapped with it"
                    : String.format(Locale.ROOT, ", %.0f MiB/s bus bandwidth", bytes / 1048576.0 * 2
                    * (env.worldSize() - 1) / env.worldSize() / (ms / 1e3))));
        }
        // Rank 0 hosts the store: it leaves last, after everyone has passed this barrier.
        collective("the final barrier", () -> backend.barrier(
                new BarrierOptions().timeout(new Milliseconds(options.writeTimeout().toMillis())))._wait());
        if (reducer != null) {
            reducer.close();
        }
    }

    private void requireBackend(String what) {
        if (backend == null) {
            throw new IllegalStateException(what + ": call attach(params) first");
        }
        if (closed) {
            throw new IllegalStateException(what + ": closed");
        }
    }

    private static AllreduceOptions sumOp() {
        AllreduceOptions o = new AllreduceOptions();
        o.reduceOp(new ReduceOp(ReduceOp.RedOpType.SUM));
        return o;
    }

    /** A collective's body: starts the operation(s) and waits for them (the backend's timeout applies). */
    @FunctionalInterface
    private interface Body {
        void run();
    }

    /** Runs one collective: records that this rank entered it, runs it, names the culprit if it fails. */
    private void collective(String what, Body body) {
        sequence++;
        current = what;
        try {
            store.set(KEY + "progress/" + env.rank(), sequence + "\t" + what);
            body.run();
        } catch (RankFailureException e) {
            throw e;
        } catch (RuntimeException e) {
            throw fail(what, e);
        }
    }

    /** Diagnoses a failed collective, tells the other ranks, and returns the exception to throw. */
    private RankFailureException fail(String what, RuntimeException cause) {
        failing = true;
        List<Integer> blamed = new ArrayList<>();
        String why;
        try {
            store.setTimeout(new Milliseconds(DIAGNOSIS_TIMEOUT.toMillis()));
            why = diagnose(blamed);
        } catch (RuntimeException storeGone) {
            blamed.clear();
            if (env.rank() != 0) {
                blamed.add(0);
                why = "rank 0 has stopped (its rendezvous store " + env.masterAddr() + ":" + env.masterPort()
                        + " is unreachable)";
            } else {
                why = "the rendezvous store does not answer";
            }
        }
        String message = "rank " + env.rank() + ": " + what + " failed: " + why + " [" + (backendName.isEmpty()
                ? "c10d" : backendName) + ": " + shortMessage(cause) + "]";
        RankFailureException e = new RankFailureException(message, blamed, cause);
        report(e);
        return e;
    }

    private String diagnose(List<Integer> blamed) {
        List<String> reasons = new ArrayList<>();
        for (int r = 0; r < env.worldSize(); r++) {
            if (r != env.rank() && store.check(new StringVector(KEY + "failed/" + r))) {
                blamed.add(r);
                reasons.add("rank " + r + " failed: " + store.get_to_str(KEY + "failed/" + r));
            }
        }
        if (!blamed.isEmpty()) {
            return String.join("; ", reasons);
        }
        long[] before = heartbeats();
        sleep(HEARTBEAT.multipliedBy(5).dividedBy(2));
        long[] after = heartbeats();
        for (int r = 0; r < env.worldSize(); r++) {
            if (r != env.rank() && after[r] == before[r]) {
                blamed.add(r);
                reasons.add("rank " + r + " has stopped (no heartbeat: it exited or was killed)");
            }
        }
        if (!blamed.isEmpty()) {
            return String.join("; ", reasons);
        }
        for (int r = 0; r < env.worldSize(); r++) {
            if (r == env.rank()) {
                continue;
            }
            String p = store.check(new StringVector(KEY + "progress/" + r))
                    ? store.get_to_str(KEY + "progress/" + r) : "0\tnothing yet";
            String[] parts = p.split("\t", 2);
            long seq = Long.parseLong(parts[0]);
            if (seq < sequence) {
                blamed.add(r);
                reasons.add("rank " + r + " is alive but did not arrive within " + options.timeout().toSeconds()
                        + " s (it hangs or is slow; its last collective: " + parts[1] + ")");
            }
        }
        if (!blamed.isEmpty()) {
            return String.join("; ", reasons);
        }
        return "no other rank reported a problem";
    }

    private long[] heartbeats() {
        long[] beats = new long[env.worldSize()];
        for (int r = 0; r < beats.length; r++) {
            beats[r] = r == env.rank() ? 0 : store.add(KEY + "alive/" + r, 0);
        }
        return beats;
    }

    /** Tells the others (best effort): {@code tasft/failed/<rank>} and the failure counter their watchdogs read. */
    private void report(RuntimeException e) {
        failing = true;
        try {
            store.setTimeout(new Milliseconds(DIAGNOSIS_TIMEOUT.toMillis()));
            store.set(KEY + "failed/" + env.rank(), oneLine(e));
            store.add(KEY + "failures", 1);
        } catch (RuntimeException ignored) {
            // the store is gone: the others find out by themselves
        }
    }

    /** The watchdog: heartbeat; stop this rank when another has failed or rank 0's store is gone. */
    private void watch() {
        Store own;
        try {
            own = store.clone();
            own.setTimeout(new Milliseconds(DIAGNOSIS_TIMEOUT.toMillis()));
        } catch (RuntimeException e) {
            return;
        }
        long firstSeen = 0;
        while (!closing) {
            try {
                own.add(KEY + "alive/" + env.rank(), 1);
                long failures = own.add(KEY + "failures", 0);
                if (failures > 0 && !failing) {
                    long now = System.nanoTime();
                    if (firstSeen == 0) {
                        firstSeen = now;
                    } else if (now - firstSeen > HEARTBEAT.multipliedBy(10).toNanos()) {
                        // Not failing by itself after 10 s: stuck outside a collective. Stop.
                        List<String> who = new ArrayList<>();
                        for (int r = 0; r < env.worldSize(); r++) {
                            if (r != env.rank() && own.check(new StringVector(KEY + "failed/" + r))) {
                                who.add("rank " + r + ": " + own.get_to_str(KEY + "failed/" + r));
                            }
                        }
                        halt("another rank failed (" + String.join("; ", who) + "); stopping rank " + env.rank()
                                + ", which was in: " + current);
                    }
                }
            } catch (RuntimeException e) {
                if (!closing && !failing && env.rank() != 0) {
                    halt("rank 0 has stopped (its rendezvous store " + env.masterAddr() + ":" + env.masterPort()
                            + " is unreachable); stopping rank " + env.rank());
                }
                if (closing || failing) {
                    return;
                }
            }
            try {
                Thread.sleep(HEARTBEAT.toMillis());
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void halt(String message) {
        if (closing || failing) {
            return;
        }
        System.err.println("tasft train: error: " + message);
        System.err.flush();
        Runtime.getRuntime().halt(1);
    }

    private void info(String message) {
        if (env.rank() == 0 && log != null) {
            log.println("tasft train: " + message);
        }
    }

    private static boolean looksLikeCommunication(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
            if (m.contains("gloo") || m.contains("nccl") || m.contains("connection") || m.contains("timed out")
                    || m.contains("peer")) {
                return true;
            }
        }
        return false;
    }

    /** Gloo's messages start with the C++ source path: keep what follows it. */
    static String shortMessage(Throwable e) {
        String m = oneLine(e);
        int close = m.indexOf("] ");
        if (m.startsWith("[") && close > 0) {
            m = m.substring(close + 2);
        }
        return m;
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().strip();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl).strip();
    }

    private static String join(List<Integer> ranks) {
        StringBuilder sb = new StringBuilder();
        for (int r : ranks) {
            sb.append(sb.length() == 0 ? "" : ", ").append(r);
        }
        return sb.toString();
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return env + (backendName.isEmpty() ? "" : ", " + backendName);
    }

}
