package org.tasft.train;

import java.nio.file.Path;

/**
 * The run's checkpoints ({@link TrainCheckpoint}): every {@code checkpointEvery} steps and after the last step; once
 * one is complete, {@code keepCheckpoints} K > 0 deletes all but the newest K. Rank 0 writes; the other ranks wait
 * for it at a barrier (data parallel).
 */
final class CheckpointListener implements TrainingListener {
    private final TrainingSetup run;

    CheckpointListener(TrainingSetup run) {
        this.run = run;
    }

    @Override
    public void onStep(Trainer trainer, StepMetrics step) {
        long every = run.config.checkpointEvery();
        if (every > 0 && step.step() % every == 0 && step.step() < run.totalSteps) { // the last one: onLastStep
            save(trainer);
        }
    }

    @Override
    public void onLastStep(Trainer trainer) {
        save(trainer);
    }

    private void save(Trainer trainer) {
        TrainConfig config = run.config;
        Path dir = TrainCheckpoint.folder(config.outDir(), trainer.step());
        if (run.dp.isWriter()) {
            double elapsed = trainer.elapsed();
            RunFolder.claim(config.outDir(), dir.getFileName().toString());
            TrainCheckpoint.save(dir, run.model, run.lora, config.modelDir(), run.optimizer, config.weightDecay(),
                    new TrainCheckpoint.State(trainer.step(), run.totalSteps, run.sampler.position(), config.seed(),
                            run.schedule, elapsed, trainer.metrics(), run.settings, run.changes));
            run.log.line("saved " + dir);
            for (Path old : TrainCheckpoint.prune(config.outDir(), trainer.step(), config.keepCheckpoints())) {
                run.log.line("deleted " + old + " (--keep-checkpoints " + config.keepCheckpoints() + ")");
            }
        }
        run.dp.barrier("waiting for rank 0 to write " + dir.getFileName()); // data parallel
    }
}
