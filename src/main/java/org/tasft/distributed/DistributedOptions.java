package org.tasft.distributed;

import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * How a data-parallel process group is set up.
 *
 * @param backend      {@link Backend#GLOO} (CPU tensors), {@link Backend#NCCL} (CUDA tensors, the GPU build), or
 *                     {@link Backend#AUTO}: NCCL when this process sees a CUDA device and the NCCL library loads,
 *                     else Gloo
 * @param timeout      how long a collective (and the rendezvous) waits for the other ranks before it fails, naming
 *                     the ranks that did not arrive
 * @param writeTimeout how long the other ranks wait while rank 0 writes a checkpoint or the final model
 * @param bucketBytes  gradient bucket size: gradients are flattened into buckets of about this many bytes, one
 *                     all-reduce each (PyTorch DDP's default is 25 MiB)
 * @param sync         when gradients are reduced
 */
public record DistributedOptions(Backend backend, Duration timeout, Duration writeTimeout, long bucketBytes,
        GradientSync sync) {
    /** The communication library. */
    public enum Backend {
        AUTO, GLOO, NCCL;

        /** {@code auto | gloo | nccl}, case-insensitive. */
        public static Backend parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException | NullPointerException e) {
                throw new IllegalArgumentException("--dist-backend '" + s + "': expected auto, gloo or nccl");
            }
        }
    }

    /** When gradients are reduced. */
    public enum GradientSync {
        /**
         * After the step's backward passes: flatten into buckets, all-reduce each, average, copy back. Simple and
         * robust (a rank whose micro-batch has no loss simply contributes zeros).
         */
        BUCKETED,
        /**
         * PyTorch's own DDP engine ({@code c10d::Reducer}): autograd hooks all-reduce each bucket as soon as its
         * gradients are ready, overlapping communication with the rest of the backward pass. Every rank's last
         * micro-batch of a step must back-propagate into every trainable parameter.
         */
        REDUCER;

        public static GradientSync parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException | NullPointerException e) {
                throw new IllegalArgumentException("--grad-sync '" + s + "': expected bucketed or reducer");
            }
        }
    }

    public static final long DEFAULT_BUCKET_BYTES = 25L << 20;

    public DistributedOptions {
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(sync, "sync");
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("--dist-timeout must be > 0 seconds, got " + timeout);
        }
        if (writeTimeout == null || writeTimeout.isNegative() || writeTimeout.isZero()) {
            throw new IllegalArgumentException("the write timeout must be > 0, got " + writeTimeout);
        }
        if (bucketBytes < 1) {
            throw new IllegalArgumentException("--bucket-mb must be > 0, got " + bucketBytes + " bytes");
        }
    }

    /** Auto backend, 10 minutes per collective (NCCL's default), 60 minutes for writes, 25 MiB buckets, bucketed. */
    public static DistributedOptions defaults() {
        return new DistributedOptions(Backend.AUTO, Duration.ofMinutes(10), Duration.ofMinutes(60),
                DEFAULT_BUCKET_BYTES, GradientSync.BUCKETED);
    }

    public DistributedOptions withTimeout(Duration t) {
        return new DistributedOptions(backend, t, writeTimeout, bucketBytes, sync);
    }

    public DistributedOptions withBackend(Backend b) {
        return new DistributedOptions(b, timeout, writeTimeout, bucketBytes, sync);
    }

    public DistributedOptions withBucketBytes(long n) {
        return new DistributedOptions(backend, timeout, writeTimeout, n, sync);
    }

    public DistributedOptions withSync(GradientSync s) {
        return new DistributedOptions(backend, timeout, writeTimeout, bucketBytes, s);
    }

    public DistributedOptions withWriteTimeout(Duration t) {
        return new DistributedOptions(backend, timeout, t, bucketBytes, sync);
    }
}
