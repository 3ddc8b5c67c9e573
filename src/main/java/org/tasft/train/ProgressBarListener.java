package org.tasft.train;

import java.time.Duration;
import java.util.Locale;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** The progress bar on stderr: steps done of the run's, and the last step's loss, its parts and tokens per second. */
final class ProgressBarListener implements TrainingListener {
    private final long totalSteps;
    private ProgressBar bar;

    ProgressBarListener(long totalSteps) {
        this.totalSteps = totalSteps;
    }

    @Override
    public void onStart(Trainer trainer) {
        bar = new ProgressBarBuilder().setTaskName("train").setInitialMax(totalSteps)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500)
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).startsFrom(trainer.step(), Duration.ZERO)
                .build();
    }

    @Override
    public void onStep(Trainer trainer, StepMetrics step) {
        bar.stepTo(step.step());
        bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f (sft %.4f, term %.4f) %.0f tok/s",
                step.loss(), step.sft(), step.term(), step.tokensPerS()));
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }
}
