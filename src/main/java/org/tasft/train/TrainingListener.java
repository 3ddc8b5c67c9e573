package org.tasft.train;

/**
 * What happens around the training loop without being the loop (as DJL's TrainingListener): metrics.jsonl, the
 * progress bar, checkpoints, the final outputs. {@link Trainer} calls each listener in turn; in a data-parallel job
 * every rank calls them and each listener decides what rank 0 writes and where the other ranks wait for it.
 */
interface TrainingListener extends AutoCloseable {
    /** Before this process's first step (a resumed run's too: {@link Trainer#step()} is where it resumes). */
    default void onStart(Trainer trainer) {
    }

    /** After each optimizer step; {@code step} is its line of metrics. */
    default void onStep(Trainer trainer, StepMetrics step) {
    }

    /** After the run's last step (not when the loop stops early). */
    default void onLastStep(Trainer trainer) {
    }

    /** Releases what {@link #onStart} opened: after {@link #onLastStep}, or when the loop stops early or fails. */
    @Override
    default void close() {
    }

    /** The run is over, closed, and learned something (not every step was skipped). */
    default void onEnd(Trainer trainer) {
    }
}
