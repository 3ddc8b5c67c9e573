package org.tasft.train;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.tasft.data.Batch;
import org.tasft.data.EncodedExample;
import org.tasft.data.MixedBatchSampler;
import org.tasft.distributed.DataParallel;
import org.tasft.model.CausalLm;
import org.tasft.model.NonFiniteException;
import org.tasft.model.lora.Lora;

/**
 * The training loop: AdamW (see {@link JavaAdamW}), warm-up then cosine/linear/constant decay ({@link LrSchedule}),
 * gradient accumulation, global-norm clipping, checkpoints that resume exactly. {@link TrainingSetup} builds what it
 * trains; its side effects are {@link TrainingListener}s.
 *
 * <p><b>One optimizer step</b> (0-based step s): {@code torch.manual_seed(seed + s)}; zero the gradients; for each of
 * the A = {@code gradientAccumulation} micro-batches drawn from the sampler, the objective's forward and backward
 * (gradients accumulate); the gradients are multiplied by 1/A, so a step AVERAGES its micro-batches' losses (each
 * micro-batch's loss is its own mean: A micro-batches equal one batch of A·B when the micro-batches have equal
 * normalizers, e.g. equal safe-token counts); clip the global L2 norm to {@code maxGradNorm} as
 * {@code torch.nn.utils.clip_grad_norm_} does ({@link Gradients#clipGradNorm}); AdamW with {@code lr = schedule(s)}.
 *
 * <p><b>Repeatability.</b> The batches depend only on the seed and the sampler position; torch's generator is
 * re-seeded from the seed and step before every step; so a run repeats exactly, and a resumed run (model, AdamW state,
 * sampler position and step restored from a checkpoint) continues exactly as the uninterrupted run.
 *
 * <p><b>Outputs</b> under {@code outDir}, by the listeners: {@code metrics.jsonl} ({@link MetricsJsonlWriter}), the
 * progress bar ({@link ProgressBarListener}), {@code checkpoint-<step>/} ({@link CheckpointListener}), and
 * {@code final/}, {@code adapter/}, {@code loss.png} ({@link FinalOutputs}). A NaN/Inf loss or gradient norm stops
 * the run before the weights are touched (or, with {@code skipNonFinite}, skips the step).
 *
 * <p><b>Data parallelism</b> (a {@link DataParallel} of W ranks; the hooks are marked "data parallel"): each rank
 * draws its shard of every batch ({@link MixedBatchSampler#sharded}: positions r, r + W, ... of the one-process
 * batch, so B must be a multiple of W), the objectives normalise by the whole batch's counts ({@link ShardTotals}),
 * the gradients are averaged over the ranks after the step's backward passes and before clipping, and the logged
 * values are the ranks' means (tokens: their sum). So W ranks with B / W examples each compute what one process
 * computes with B. Rank 0 alone writes checkpoints, metrics.jsonl, loss.png, final/ and adapter/; the others wait at a
 * barrier while it writes. The sampler position in a checkpoint is global: a run resumes with any W that divides B.
 */
public final class Trainer {
    /** Where {@code saveAdapters} puts the final LoRA adapters under the output folder. */
    public static final String ADAPTER_DIR = "adapter";
    private final TrainingSetup run;
    private final TrainConfig config;
    private final DataParallel dp;
    private final TrainingListeners listeners;
    private final ShardTotals totals;
    private final List<StepMetrics> metrics;
    private long step;
    private long skipped;
    private long runStart;

    /** A fresh run ({@code resume} null) or one continued from a checkpoint folder. */
    public Trainer(TrainConfig config, Path resume, PrintStream log) {
        this(config, resume, log, DataParallel.SINGLE_PROCESS);
    }

    /** As {@link #Trainer(TrainConfig, Path, PrintStream)} as one rank of a data-parallel job. */
    public Trainer(TrainConfig config, Path resume, PrintStream log, DataParallel dp) {
        this(new TrainingSetup(config, resume, new TrainLog(log, dp), dp));
    }

    private Trainer(TrainingSetup run) {
        this.run = run;
        this.config = run.config;
        this.dp = run.dp;
        this.listeners = new TrainingListeners(listeners(run));
        this.totals = dp.worldSize() == 1 ? ShardTotals.SINGLE_PROCESS
                : local -> divide(dp.sum(local), dp.worldSize()); // data parallel: the whole batch's counts
        this.metrics = new ArrayList<>(run.metricsBefore);
        this.step = run.startStep;
        this.skipped = metrics.stream().filter(StepMetrics::skipped).count();
    }

    /** metrics.jsonl and the bar (rank 0's), checkpoints and the final outputs (rank 0 writes, the others wait). */
    private static List<TrainingListener> listeners(TrainingSetup run) {
        List<TrainingListener> l = new ArrayList<>();
        if (run.dp.isWriter()) {
            l.add(new MetricsJsonlWriter(run.config.outDir()));
            if (run.config.progress()) {
                l.add(new ProgressBarListener(run.totalSteps));
            }
        }
        l.add(new CheckpointListener(run));
        l.add(new FinalOutputs(run));
        return l;
    }

    /** The model being trained (with its LoRA adapters, unmerged, when training LoRA). */
    public CausalLm model() {
        return run.model;
    }

    /** The LoRA adapters being trained, or null for full fine-tuning. */
    public Lora lora() {
        return run.lora;
    }

    /** The batch sampler (tests look at what the batches hold). */
    MixedBatchSampler<EncodedExample> sampler() {
        return run.sampler;
    }

    public long totalSteps() {
        return run.totalSteps;
    }

    /** Optimizer steps done (a resumed run counts its checkpoint's). */
    public long step() {
        return step;
    }

    public List<StepMetrics> metrics() {
        return List.copyOf(metrics);
    }

    /** Seconds trained, across resumes. */
    double elapsed() {
        return run.elapsedBefore + (System.nanoTime() - runStart) / 1e9;
    }

    /** Runs to {@link #totalSteps()} and writes the final checkpoint, final/, metrics.jsonl and loss.png. */
    public List<StepMetrics> run() {
        return runUntil(run.totalSteps);
    }

    /**
     * Trains up to step {@code stop}; only when it reaches {@link #totalSteps()} does it write the last checkpoint,
     * final/ and loss.png (a smaller {@code stop} is what a run killed after that step leaves behind).
     */
    List<StepMetrics> runUntil(long stop) {
        try {
            return train(stop);
        } catch (RuntimeException e) {
            throw dp.failed(e); // data parallel: tell the other ranks; name the rank that stopped, if one did
        }
    }

    private List<StepMetrics> train(long stop) {
        if (dp.isWriter()) { // data parallel: rank 0 alone writes
            RunFolder.createFolder(config.outDir());
        }
        run.log.line("method " + run.objective.name() + ", " + run.totalSteps + " steps, lr " + config.learningRate()
                + " (" + config.schedule().name().toLowerCase(Locale.ROOT) + ", " + config.warmupSteps()
                + " warm-up), out " + config.outDir());
        runStart = System.nanoTime();
        try (listeners) { // closes metrics.jsonl and the bar however the loop ends
            listeners.onStart(this);
            while (step < Math.min(stop, run.totalSteps)) {
                StepMetrics m;
                try (PointerScope scope = new PointerScope()) {
                    m = trainStep();
                }
                metrics.add(m);
                listeners.onStep(this, m);
            }
            if (step < run.totalSteps) {
                return metrics(); // stopped early, as a killed run would
            }
            listeners.onLastStep(this);
        }
        if (skipped == run.totalSteps) {
            throw new NonFiniteException("every one of the " + run.totalSteps + " steps had a NaN/Inf loss or "
                    + "gradient and was skipped: nothing was learned (final/ not written)");
        }
        if (skipped > 0) {
            run.log.line("skipped " + skipped + " of " + run.totalSteps + " steps with a NaN/Inf loss or gradient "
                    + "norm (metrics.jsonl marks them \"skipped\")");
        }
        listeners.onEnd(this);
        return metrics();
    }

    private StepMetrics trainStep() {
        long t0 = System.nanoTime();
        torch.manual_seed(config.seed() + step);
        double lr = run.schedule.at(step);
        run.optimizer.zeroGrad();
        int a = config.gradientAccumulation();
        double loss = 0, sft = 0, term = 0;
        long tokens = 0;
        for (int i = 0; i < a; i++) {
            Batch batch = run.collator.collate(run.sampler.next().items());
            tokens += batch.attentionMask().sum().item_long();
            dp.beforeBackward(i == a - 1); // data parallel
            StepLoss l = run.objective.step(run.model, batch, totals);
            run.model.backwardCheckpointedLayers(); // --gradient-checkpointing: the decoder layers' backward
            loss += l.total();
            sft += l.sft();
            term += l.term();
        }
        dp.averageGradients(step); // data parallel: before the 1/A scaling and clipping
        if (dp.worldSize() > 1) { // data parallel: logged values are the ranks' means, tokens their sum
            double[] all = dp.sum(loss, sft, term, tokens);
            loss = all[0] / dp.worldSize();
            sft = all[1] / dp.worldSize();
            term = all[2] / dp.worldSize();
            tokens = Math.round(all[3]);
        }
        Collection<Tensor> params = run.optimizer.params().values();
        if (a > 1) {
            Gradients.scale(params, 1.0 / a);
        }
        double norm = Gradients.clipGradNorm(params, config.maxGradNorm());
        // A NaN/Inf loss or gradient would poison the weights and AdamW's state for good: stop (or skip) before
        // the update. (Every rank sees the same values: the loss and the gradients were averaged over the ranks.)
        boolean finite = Double.isFinite(loss) && Double.isFinite(norm);
        if (!finite && !config.skipNonFinite()) {
            throw nonFinite(step + 1, loss / a, sft / a, term / a, norm);
        }
        if (finite) {
            run.optimizer.step(lr);
        } else {
            run.optimizer.zeroGrad();
            skipped++;
            run.log.line(String.format(Locale.ROOT, "warning: step %d skipped: loss %s, gradient norm %s "
                    + "(--skip-nonfinite-steps; %d skipped so far)", step + 1, loss / a, norm, skipped));
        }
        step++;
        double seconds = (System.nanoTime() - t0) / 1e9;
        return new StepMetrics(step, lr, loss / a, sft / a, term / a, norm, tokens, tokens / Math.max(seconds, 1e-9),
                elapsed(), !finite);
    }

    /** The error of a step whose loss or gradient norm is not finite: which step, which part, which parameter. */
    private NonFiniteException nonFinite(long at, double loss, double sft, double term, double norm) {
        StringBuilder m = new StringBuilder(String.format(Locale.ROOT, "step %d: the loss is %s (safe part %s, "
                + "harmful part %s), the gradient norm %s", at, loss, sft, term, norm));
        String weight = NonFiniteException.firstNonFinite(run.model.stateDict());
        if (weight != null) {
            m.append("; the weights hold NaN/Inf: ").append(weight);
        } else {
            Map<String, Tensor> grads = new LinkedHashMap<>();
            run.optimizer.params().forEach((name, p) -> grads.put(name, p.grad()));
            String grad = NonFiniteException.firstNonFinite(grads);
            if (grad != null) {
                m.append("; first non-finite gradient: ").append(grad);
            }
        }
        m.append("; training stopped before updating the weights");
        Map.Entry<Long, Path> last = TrainCheckpoint.list(config.outDir()).floorEntry(at - 1);
        m.append(last == null ? " (no checkpoint was saved)" : "; the last good checkpoint is " + last.getValue()
                + " (--resume it with a lower --lr, or pass --skip-nonfinite-steps to skip such steps)");
        return new NonFiniteException(m.toString());
    }

    private static double[] divide(double[] values, int by) {
        for (int i = 0; i < values.length; i++) {
            values[i] /= by;
        }
        return values;
    }
}
