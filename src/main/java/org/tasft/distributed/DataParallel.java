package org.tasft.distributed;

import java.util.Map;

import org.bytedeco.pytorch.Tensor;

/**
 * What the trainer needs from data parallelism: the rank, sums over ranks, gradient averaging, barriers. One
 * process is {@link #SINGLE_PROCESS} (every operation is the identity); {@link ProcessGroupDataParallel} is the
 * multi-process one, on PyTorch's c10d (Gloo on the CPU, NCCL on GPUs).
 *
 * <p>Every method except {@link #rank()}, {@link #worldSize()}, {@link #isWriter()} and {@link #failed} is a
 * collective: all ranks call it, in the same order. A rank that fails or hangs makes the others' next collective throw
 * {@link RankFailureException}, naming it, within the configured timeout.
 */
public interface DataParallel extends AutoCloseable {
    /** One process: no communication. */
    DataParallel SINGLE_PROCESS = new DataParallel() {
        @Override
        public int rank() {
            return 0;
        }

        @Override
        public int worldSize() {
            return 1;
        }

        @Override
        public double[] sum(double... values) {
            return values.clone();
        }

        @Override
        public void attach(Map<String, Tensor> params) {
        }

        @Override
        public void beforeBackward(boolean lastOfStep) {
        }

        @Override
        public void averageGradients(long step) {
        }

        @Override
        public void checkSame(String what, String value) {
        }

        @Override
        public void barrier(String what) {
        }

        @Override
        public RuntimeException failed(RuntimeException error) {
            return error;
        }

        @Override
        public void close() {
        }

        @Override
        public String toString() {
            return "one process";
        }
    };

    int rank();

    int worldSize();

    /** Rank 0 alone writes checkpoints, metrics, plots and the final model. */
    default boolean isWriter() {
        return rank() == 0;
    }

    /** Each value summed over the ranks (in float64). */
    double[] sum(double... values);

    /**
     * Called once, before training, with the trainable parameters (the same names, shapes and order on every rank):
     * makes every rank's values equal to rank 0's (a broadcast) and prepares the gradient buckets.
     */
    void attach(Map<String, Tensor> params);

    /**
     * Called before each micro-batch's backward; {@code lastOfStep} is true for the step's last one, whose backward
     * completes the step's gradients (an overlapping implementation starts reducing during it).
     */
    void beforeBackward(boolean lastOfStep);

    /**
     * After the step's backward passes: each parameter's gradient becomes the mean over the ranks (a parameter without
     * a gradient on a rank counts as zero there; it has none afterwards only if no rank had one).
     *
     * @param step the 0-based index of the step (for error messages and the test's fault injection)
     */
    void averageGradients(long step);

    /** Fails on every rank, naming the ranks that differ, unless all ranks pass the same value (e.g. the options). */
    void checkSame(String what, String value);

    /**
     * Waits until every rank has arrived, e.g. while rank 0 writes a checkpoint (with the longer write timeout of
     * {@link DistributedOptions#writeTimeout()}).
     */
    void barrier(String what);

    /**
     * This rank is failing with {@code error}: tells the other ranks (best effort, never throws) and returns what to
     * throw: {@code error}, or, when it came from communicating with a rank that stopped, a
     * {@link RankFailureException} naming that rank.
     */
    RuntimeException failed(RuntimeException error);

    /** Leaves the process group (after a final barrier in a normal end). */
    @Override
    void close();
}
