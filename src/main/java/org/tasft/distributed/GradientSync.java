package org.tasft.distributed;

import java.util.Locale;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;

/**
 * How a step's gradients become their mean over the ranks (a parameter without a gradient on a rank counts as zero
 * there): {@link BucketedGradientSync} all-reduces buckets after the backward passes; {@link ReducerGradients}, c10d's
 * DDP engine, reduces during the step's last backward pass.
 */
interface GradientSync extends AutoCloseable {

    /** The one {@code options.sync()} asks for, over the trainable parameters (the same on every rank). */
    static GradientSync create(DistributedOptions options, Map<String, Tensor> named, LaunchEnvironment env,
            Collectives collectives) {
        if (options.sync() == DistributedOptions.GradientSync.REDUCER) {
            CollectiveBackend b = collectives.backend();
            return new ReducerGradients(named, options.bucketBytes(), env.rank(), env.worldSize(), b.backend(),
                    b.device());
        }
        return new BucketedGradientSync(named, options.bucketBytes(), env.worldSize(), collectives);
    }

    /** Before each micro-batch's backward pass; {@code lastOfStep} for the one that completes the step. */
    void beforeBackward(boolean lastOfStep);

    /** After the step's backward passes: every gradient is the mean over the ranks ({@code what} names the step). */
    void average(String what);

    /** Whether a failure now came from reductions running inside the backward pass (not from a collective here). */
    default boolean reducingInBackward() {
        return false;
    }

    /** Whether the reduction overlaps the backward pass (then {@link #average} only waits for its end). */
    boolean overlapsBackward();

    /** Gradient bytes reduced per step. */
    long bytesPerStep();

    /** The layout, for the log: buckets and sizes. */
    String describe();

    /** The log's closing line: time per step after the backward pass, and the bus bandwidth where it is all there. */
    default String summary(long steps, long nanos, int worldSize) {
        long bytes = bytesPerStep();
        double ms = nanos / 1e6 / steps;
        return String.format(Locale.ROOT, "gradient sync: %d steps, %.1f ms per step after the backward pass "
                + "(%s per step%s)", steps, ms, mib(bytes), overlapsBackward() ? ", the rest overlapped with it"
                : String.format(Locale.ROOT, ", %.0f MiB/s bus bandwidth", bytes / 1048576.0 * 2
                * (worldSize - 1) / worldSize / (ms / 1e3)));
    }

    @Override
    void close();

    static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }
}
