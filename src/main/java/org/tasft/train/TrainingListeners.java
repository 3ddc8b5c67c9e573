package org.tasft.train;

import java.util.ArrayList;
import java.util.List;

/** Listeners called in their order and closed in the reverse order, each even when another fails (as nested try). */
final class TrainingListeners implements TrainingListener {
    private final List<TrainingListener> all;
    private final List<TrainingListener> started = new ArrayList<>();

    TrainingListeners(List<TrainingListener> all) {
        this.all = List.copyOf(all);
    }

    /** Starts each in turn; if one fails, closes those already started. */
    @Override
    public void onStart(Trainer trainer) {
        try {
            for (TrainingListener l : all) {
                l.onStart(trainer);
                started.add(l);
            }
        } catch (RuntimeException | Error e) {
            closeStarted(e);
            throw e;
        }
    }

    @Override
    public void onStep(Trainer trainer, StepMetrics step) {
        for (TrainingListener l : all) {
            l.onStep(trainer, step);
        }
    }

    @Override
    public void onLastStep(Trainer trainer) {
        for (TrainingListener l : all) {
            l.onLastStep(trainer);
        }
    }

    @Override
    public void close() {
        closeStarted(null);
    }

    @Override
    public void onEnd(Trainer trainer) {
        for (TrainingListener l : all) {
            l.onEnd(trainer);
        }
    }

    /** Closes the started listeners, last first; the first failure is thrown (or added to {@code pending}'s). */
    private void closeStarted(Throwable pending) {
        Throwable first = pending;
        for (int i = started.size() - 1; i >= 0; i--) {
            try {
                started.get(i).close();
            } catch (RuntimeException | Error e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        started.clear();
        if (pending == null && first instanceof RuntimeException r) {
            throw r;
        }
        if (pending == null && first instanceof Error err) {
            throw err;
        }
    }
}
