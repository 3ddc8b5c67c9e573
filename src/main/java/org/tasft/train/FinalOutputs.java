package org.tasft.train;

import java.nio.file.Path;

import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.model.lora.Lora;

/**
 * What a finished run leaves besides its checkpoints: {@code final/} (the last model as a Hugging Face folder, LoRA
 * adapters merged), with {@code saveAdapters} the adapters as a PEFT folder {@code adapter/}, and {@code loss.png}.
 * Rank 0 writes them; the other ranks wait for it (data parallel).
 */
final class FinalOutputs implements TrainingListener {
    static final String MODEL_DIR = "final";
    static final String LOSS_PLOT = "loss.png";
    private final TrainingSetup run;

    FinalOutputs(TrainingSetup run) {
        this.run = run;
    }

    @Override
    public void onEnd(Trainer trainer) {
        TrainConfig config = run.config;
        Path out = config.outDir();
        if (run.dp.isWriter()) {
            Path fin = out.resolve(MODEL_DIR);
            RunFolder.claim(out, MODEL_DIR);
            ModelFolderWriter.save(fin, run.lora == null ? run.model.stateDict() : run.lora.mergedStateDict(),
                    run.model.config().text(), config.modelDir(),
                    // in the dtype it was trained in: a bf16 run writes a bf16 model, as transformers would
                    ModelFolderWriter.Options.defaults().dtype(config.placement().precision().scalarType()));
            run.log.line("saved the final model to " + fin + (run.lora == null ? "" : " (LoRA adapters merged)"));
            if (config.saveAdapters()) {
                Path adapters = out.resolve(Trainer.ADAPTER_DIR);
                RunFolder.claim(out, Trainer.ADAPTER_DIR);
                Lora.saveAdapters(run.model, adapters, config.modelDir().toAbsolutePath().normalize().toString());
                run.log.line("saved the LoRA adapters to " + adapters);
            }
            try {
                RunFolder.claim(out, LOSS_PLOT);
                LossPlot.write(trainer.metrics(), out.resolve(LOSS_PLOT));
            } catch (RuntimeException | LinkageError e) {
                run.log.line("warning: could not draw loss.png: " + e); // the plot is a convenience, not the result
            }
        }
        run.dp.barrier("waiting for rank 0 to write final/"); // data parallel
    }
}
