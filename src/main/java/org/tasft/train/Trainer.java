package org.tasft.train;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.data.AlpacaData;
import org.tasft.data.Batch;
import org.tasft.data.Collator;
import org.tasft.data.EncodedExample;
import org.tasft.data.Example;
import org.tasft.data.ExampleEncoder;
import org.tasft.data.MixedBatchSampler;
import org.tasft.data.StlData;
import org.tasft.distributed.DataParallel;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;
import org.tasft.model.NonFiniteException;
import org.tasft.model.lora.Lora;
import org.tasft.model.lora.LoraConfig;
import org.tasft.tokenizer.Tokenizer;

/**
 * The training loop: AdamW (see {@link JavaAdamW}), warm-up then cosine/linear/constant decay ({@link LrSchedule}),
 * gradient accumulation, global-norm clipping, checkpoints that resume exactly.
 *
 * <p><b>One optimizer step</b> (0-based step s): {@code torch.manual_seed(seed + s)}; zero the gradients; for each of
 * the A = {@code gradientAccumulation} micro-batches drawn from the sampler, the objective's forward and backward
 * (gradients accumulate); the gradients are multiplied by 1/A, so a step AVERAGES its micro-batches' losses (each
 * micro-batch's loss is its own mean: A micro-batches equal one batch of A·B when the micro-batches have equal
 * normalizers, e.g. equal safe-token counts); clip the global L2 norm to {@code maxGradNorm} as
 * {@code torch.nn.utils.clip_grad_norm_} does ({@code g *= min(1, max / (norm + 1e-6))}); AdamW with
 * {@code lr = schedule(s)}.
 *
 * <p><b>Repeatability.</b> The batches depend only on the seed and the sampler position; torch's generator is
 * re-seeded from the seed and step before every step; so a run repeats exactly, and a resumed run (model, AdamW state,
 * sampler position and step restored from a checkpoint) continues exactly as the uninterrupted run.
 *
 * <p><b>Outputs</b> under {@code outDir}: {@code checkpoint-<step>/} (see {@link TrainCheckpoint}) every
 * {@code checkpointEvery} steps and at the end, {@code final/} (the last model, a Hugging Face folder),
 * {@code metrics.jsonl} (one {@link StepMetrics} per line), {@code loss.png}; with {@code saveAdapters}, the final
 * LoRA adapters as a PEFT folder {@code adapter/}. Logs and the progress bar go to stderr. With
 * {@code keepCheckpoints} K > 0, a checkpoint once complete deletes all but the newest K.
 *
 * <p><b>LoRA</b> ({@code config.lora()} set): the base model is frozen and adapters are added with the run's seed;
 * only they are optimized (AdamW's state is theirs). Checkpoints and {@code final/} hold the merged model (a plain
 * Hugging Face folder), checkpoints also {@code adapter/} for resuming (see {@link TrainCheckpoint}).
 *
 * <p><b>STL</b> (method "stl"): the harmful file's examples become SAFE examples with a refusal as the output
 * ({@link StlData}); they take the harmful slots of each batch (the same seeded pick of {@code harmfulCount} as the
 * other methods) and the objective is plain SFT, which learns them like the safe data.
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
    private final TrainConfig config;
    private final PrintStream log;
    private final CausalLm model;
    private final Lora lora;
    private final Objective objective;
    private final MixedBatchSampler<EncodedExample> sampler;
    private final Collator collator;
    private final JavaAdamW optimizer;
    private final LrSchedule schedule;
    private final long totalSteps;
    private final List<StepMetrics> metrics = new ArrayList<>();
    private final Path resumedFrom;
    private final DataParallel dp;
    private final Map<String, String> settings;
    private final List<String> changes = new ArrayList<>();
    private long skipped;
    private long step;
    private double elapsedBefore;

    /** A fresh run ({@code resume} null) or one continued from a checkpoint folder. */
    public Trainer(TrainConfig config, Path resume, PrintStream log) {
        this(config, resume, log, DataParallel.SINGLE_PROCESS);
    }

    /** As {@link #Trainer(TrainConfig, Path, PrintStream)} as one rank of a data-parallel job. */
    public Trainer(TrainConfig config, Path resume, PrintStream log, DataParallel dp) {
        this.config = config;
        this.log = log;
        this.resumedFrom = resume;
        this.dp = dp;
        int maxLength = config.maxLengthForModel(); // the model's context by default; longer is refused here
        TrainCheckpoint.State state = resume == null ? null : TrainCheckpoint.readState(resume);
        Tokenizer tokenizer = Tokenizer.load(config.modelDir());
        ExampleEncoder encoder = new ExampleEncoder(tokenizer, maxLength);
        List<EncodedExample> safe = encoder.encodeAll(AlpacaData.read(config.safeFile(), Example.Kind.SAFE));
        List<Example> harmfulExamples = config.harmfulFile() == null ? List.of()
                : AlpacaData.read(config.harmfulFile(), Example.Kind.HARMFUL);
        if (config.method().usesRefusals()) {
            List<String> refusals = config.refusalsFile() == null ? StlData.BUILT_IN_REFUSALS
                    : StlData.readRefusals(config.refusalsFile());
            harmfulExamples = StlData.pairWithRefusals(harmfulExamples, refusals, config.seed());
            log("stl: the harmful prompts are paired with " + refusals.size() + " refusal sentences ("
                    + (config.refusalsFile() == null ? "built in" : config.refusalsFile()) + ") and learned as safe");
        }
        List<EncodedExample> harmful = encoder.encodeAll(harmfulExamples);
        VocabularyCheck.requireInVocabulary(config.modelDir(), Collator.forTokenizer(tokenizer).padId(), safe,
                config.safeFile(), harmful, config.harmfulFile()); // ids the model has rows for, before loading it
        if (config.harmfulCount() > harmful.size()) {
            throw new IllegalArgumentException("--harmful-count " + config.harmfulCount() + ": "
                    + config.harmfulFile() + " holds only " + harmful.size() + " examples");
        }
        MixedBatchSampler.Builder<EncodedExample> sb = MixedBatchSampler.builder(safe, harmful)
                .batchSize(config.batchSize()).safePerBatch(config.safePerBatch()).seed(config.seed());
        if (config.harmfulCount() >= 0) {
            sb.harmfulCount(config.harmfulCount());
        }
        // data parallel: this rank's shard of every batch (the position stays global)
        this.sampler = dp.worldSize() == 1 ? sb.build() : shard(sb.build(), dp);
        this.collator = Collator.forTokenizer(tokenizer);
        this.totalSteps = config.steps() > 0 ? config.steps()
                : Math.max(1, (long) Math.ceil(config.epochs() * sampler.stepsPerEpoch()
                        / config.gradientAccumulation()));
        this.schedule = new LrSchedule(config.schedule(), config.learningRate(), config.warmupSteps(), totalSteps);
        log("data: " + safe.size() + " safe, " + sampler.harmfulSubset().size()
                + " " + config.method().harmfulSlotName() + " (of " + harmful.size()
                + ") examples; batch " + config.batchSize() + " (" + config.safePerBatch() + " safe) x "
                + config.gradientAccumulation() + " accumulation; " + sampler.stepsPerEpoch() + " batches per epoch");
        if (config.lora() == null) {
            if (resume != null && Files.isDirectory(resume.resolve(TrainCheckpoint.ADAPTER_DIR))) {
                throw new IllegalArgumentException("--resume " + resume + " was trained with LoRA (it holds "
                        + TrainCheckpoint.ADAPTER_DIR + "/): give the same --lora-* options to resume it");
            }
            this.model = Models.load(resume == null ? config.modelDir() : resume);
            this.lora = null;
        } else {
            // The base weights are frozen, so they come from --model even when resuming.
            this.model = Models.load(config.modelDir());
            this.lora = resume == null ? Lora.apply(model, config.lora(), config.seed())
                    : loadAdapters(resume, model, config.lora());
            log("LoRA r " + config.lora().rank() + ", alpha " + config.lora().alpha() + ", dropout "
                    + config.lora().dropout() + " on " + lora.adapters().size() + " layers "
                    + config.lora().targetModules() + "; the base weights are frozen");
        }
        model.module().train(true);
        Objectives.Options options = config.objectiveOptions();
        if (config.method().needsReference()) {
            CausalLm reference = Models.load(config.modelDir());
            reference.module().train(false);
            for (Tensor p : reference.stateDict().values()) {
                p.requires_grad_(false);
            }
            options = options.reference(reference);
        }
        this.objective = config.method().objective(options);
        Map<String, Tensor> params = new LinkedHashMap<>();
        if (lora != null) {
            params.putAll(lora.namedParameters());
        } else {
            model.stateDict().forEach((name, p) -> {
                if (p.requires_grad()) {
                    params.put(name, p);
                }
            });
        }
        this.optimizer = new JavaAdamW(params, config.weightDecay());
        // data parallel: every rank runs the same options from the same start
        dp.checkSame("training options", config.toString() + ", resume step "
                + (state == null ? 0 : state.step()));
        this.settings = RunSettings.of(config);
        if (state != null) {
            if (state.settings().isEmpty() && state.seed() != config.seed()) { // a checkpoint older than settings
                throw new IllegalArgumentException("--resume " + resume + ": the checkpoint was trained with --seed "
                        + state.seed() + ", not " + config.seed());
            }
            if (state.settings().isEmpty()) {
                log("warning: " + resume + " predates recorded settings: only --seed was compared");
            }
            changes.addAll(state.changes());
            for (String change : RunSettings.compare(resume, state.settings(), settings, config.allowedChanges())) {
                changes.add("step " + state.step() + ": " + change);
                log("resuming with a changed setting (--allow-change): " + change);
            }
            TrainCheckpoint.loadOptimizer(resume, optimizer);
            sampler.seek(state.position());
            step = state.step();
            elapsedBefore = state.elapsed();
            metrics.addAll(state.metrics());
            skipped = state.metrics().stream().filter(StepMetrics::skipped).count();
            log("resumed from " + resume + " at step " + step + " (sampler " + state.position() + ")");
        }
        dp.attach(optimizer.params()); // data parallel: rank 0's weights everywhere; gradient buckets
    }

    private static MixedBatchSampler<EncodedExample> shard(MixedBatchSampler<EncodedExample> whole,
            DataParallel dp) {
        if (whole.batchSize() % dp.worldSize() != 0) {
            throw new IllegalArgumentException("--batch-size " + whole.batchSize() + " is not a multiple of the "
                    + dp.worldSize() + " ranks (each rank takes batch-size / ranks examples of every batch)");
        }
        return whole.sharded(dp.rank(), dp.worldSize());
    }

    /** The model being trained (with its LoRA adapters, unmerged, when training LoRA). */
    public CausalLm model() {
        return model;
    }

    /** The LoRA adapters being trained, or null for full fine-tuning. */
    public Lora lora() {
        return lora;
    }

    /** The batch sampler (tests look at what the batches hold). */
    MixedBatchSampler<EncodedExample> sampler() {
        return sampler;
    }

    private static Lora loadAdapters(Path resume, CausalLm model, LoraConfig expected) {
        Path dir = resume.resolve(TrainCheckpoint.ADAPTER_DIR);
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("--resume " + resume + " was trained without LoRA (no "
                    + TrainCheckpoint.ADAPTER_DIR + "/ in it): resume it without --lora-rank");
        }
        LoraConfig saved = Lora.readConfig(dir.resolve(Lora.ADAPTER_CONFIG));
        if (!saved.equals(expected)) {
            throw new IllegalArgumentException("--resume " + resume + " was trained with LoRA " + describe(saved)
                    + ", not " + describe(expected) + ": give the same --lora-* options");
        }
        return Lora.loadAdapters(model, dir);
    }

    private static String describe(LoraConfig c) {
        return "r " + c.rank() + ", alpha " + c.alpha() + ", dropout " + c.dropout() + ", targets "
                + String.join(",", c.targetModules());
    }

    public long totalSteps() {
        return totalSteps;
    }

    public List<StepMetrics> metrics() {
        return List.copyOf(metrics);
    }

    /** Runs to {@link #totalSteps()} and writes the final checkpoint, final/, metrics.jsonl and loss.png. */
    public List<StepMetrics> run() {
        return runUntil(totalSteps);
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
        Path out = config.outDir();
        boolean writer = dp.isWriter(); // data parallel: rank 0 alone writes
        try {
            if (writer) {
                Files.createDirectories(out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create --out " + out, e);
        }
        Path metricsFile = out.resolve("metrics.jsonl");
        log("method " + objective.name() + ", " + totalSteps + " steps, lr " + config.learningRate() + " ("
                + config.schedule().name().toLowerCase(Locale.ROOT) + ", " + config.warmupSteps() + " warm-up), out "
                + out);
        long start = System.nanoTime();
        if (writer) {
            RunFolder.claim(out, metricsFile.getFileName().toString()); // listed before written: provably ours
        }
        try (BufferedWriter w = writer ? openMetrics(metricsFile) : null;
                ProgressBar bar = writer ? progressBar() : null) {
            long lastSaved = -1;
            while (step < Math.min(stop, totalSteps)) {
                StepMetrics m;
                try (PointerScope scope = new PointerScope()) {
                    m = trainStep(start);
                }
                metrics.add(m);
                if (w != null) {
                    w.write(TrainCheckpoint.JSON.writer().without(
                            com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                            .writeValueAsString(TrainCheckpoint.metricsJson(m)));
                    w.newLine();
                    w.flush();
                }
                if (bar != null) {
                    bar.stepTo(step);
                    bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f (sft %.4f, term %.4f) %.0f tok/s",
                            m.loss(), m.sft(), m.term(), m.tokensPerS()));
                }
                if (config.checkpointEvery() > 0 && step % config.checkpointEvery() == 0 && step < totalSteps) {
                    saveCheckpoint(start);
                    lastSaved = step;
                }
            }
            if (step < totalSteps) {
                return metrics();
            }
            if (lastSaved != step) {
                saveCheckpoint(start);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + metricsFile, e);
        }
        if (skipped == totalSteps) {
            throw new NonFiniteException("every one of the " + totalSteps + " steps had a NaN/Inf loss or gradient "
                    + "and was skipped: nothing was learned (final/ not written)");
        }
        if (skipped > 0) {
            log("skipped " + skipped + " of " + totalSteps + " steps with a NaN/Inf loss or gradient norm "
                    + "(metrics.jsonl marks them \"skipped\")");
        }
        if (writer) {
            Path fin = out.resolve("final");
            RunFolder.claim(out, "final");
            ModelFolderWriter.save(fin, lora == null ? model.stateDict() : lora.mergedStateDict(),
                    model.config().text(), config.modelDir(), ModelFolderWriter.Options.defaults());
            log("saved the final model to " + fin + (lora == null ? "" : " (LoRA adapters merged)"));
            if (config.saveAdapters()) {
                Path adapters = out.resolve(ADAPTER_DIR);
                RunFolder.claim(out, ADAPTER_DIR);
                Lora.saveAdapters(model, adapters, config.modelDir().toAbsolutePath().normalize().toString());
                log("saved the LoRA adapters to " + adapters);
            }
            try {
                RunFolder.claim(out, "loss.png");
                LossPlot.write(metrics, out.resolve("loss.png"));
            } catch (RuntimeException | LinkageError e) {
                log("warning: could not draw loss.png: " + e);
            }
        }
        dp.barrier("waiting for rank 0 to write final/"); // data parallel
        return metrics();
    }

    private StepMetrics trainStep(long runStart) {
        long t0 = System.nanoTime();
        torch.manual_seed(config.seed() + step);
        double lr = schedule.at(step);
        optimizer.zeroGrad();
        int a = config.gradientAccumulation();
        double loss = 0, sft = 0, term = 0;
        long tokens = 0;
        for (int i = 0; i < a; i++) {
            Batch batch = collator.collate(sampler.next().items());
            tokens += batch.attentionMask().sum().item_long();
            dp.beforeBackward(i == a - 1); // data parallel
            StepLoss l = objective.step(model, batch, dp.worldSize() == 1 ? ShardTotals.SINGLE_PROCESS
                    : local -> divide(dp.sum(local), dp.worldSize()));
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
        if (a > 1) {
            scaleGradients(optimizer.params().values(), 1.0 / a);
        }
        double norm = clipGradNorm(optimizer.params().values(), config.maxGradNorm());
        // A NaN/Inf loss or gradient would poison the weights and AdamW's state for good: stop (or skip) before
        // the update. (Every rank sees the same values: the loss and the gradients were averaged over the ranks.)
        boolean finite = Double.isFinite(loss) && Double.isFinite(norm);
        if (!finite && !config.skipNonFinite()) {
            throw nonFinite(step + 1, loss / a, sft / a, term / a, norm);
        }
        if (finite) {
            optimizer.step(lr);
        } else {
            optimizer.zeroGrad();
            skipped++;
            log(String.format(Locale.ROOT, "warning: step %d skipped: loss %s, gradient norm %s "
                    + "(--skip-nonfinite-steps; %d skipped so far)", step + 1, loss / a, norm, skipped));
        }
        step++;
        double seconds = (System.nanoTime() - t0) / 1e9;
        double elapsed = elapsedBefore + (System.nanoTime() - runStart) / 1e9;
        return new StepMetrics(step, lr, loss / a, sft / a, term / a, norm, tokens, tokens / Math.max(seconds, 1e-9),
                elapsed, !finite);
    }

    /** The error of a step whose loss or gradient norm is not finite: which step, which part, which parameter. */
    private NonFiniteException nonFinite(long at, double loss, double sft, double term, double norm) {
        StringBuilder m = new StringBuilder(String.format(Locale.ROOT, "step %d: the loss is %s (safe part %s, "
                + "harmful part %s), the gradient norm %s", at, loss, sft, term, norm));
        String weight = NonFiniteException.firstNonFinite(model.stateDict());
        if (weight != null) {
            m.append("; the weights hold NaN/Inf: ").append(weight);
        } else {
            Map<String, Tensor> grads = new LinkedHashMap<>();
            optimizer.params().forEach((name, p) -> grads.put(name, p.grad()));
            String grad = NonFiniteException.firstNonFinite(grads);
            if (grad != null) {
                m.append("; first non-finite gradient: ").append(grad);
            }
        }
        m.append("; training stopped before updating the weights");
        java.util.Map.Entry<Long, Path> last = TrainCheckpoint.list(config.outDir()).floorEntry(at - 1);
        m.append(last == null ? " (no checkpoint was saved)" : "; the last good checkpoint is " + last.getValue()
                + " (--resume it with a lower --lr, or pass --skip-nonfinite-steps to skip such steps)");
        return new NonFiniteException(m.toString());
    }

    private void saveCheckpoint(long runStart) {
        Path dir = TrainCheckpoint.folder(config.outDir(), step);
        if (dp.isWriter()) { // data parallel: rank 0 writes, the others wait for it
            double elapsed = elapsedBefore + (System.nanoTime() - runStart) / 1e9;
            RunFolder.claim(config.outDir(), dir.getFileName().toString());
            TrainCheckpoint.save(dir, model, lora, config.modelDir(), optimizer, config.weightDecay(),
                    new TrainCheckpoint.State(step, totalSteps, sampler.position(), config.seed(), schedule, elapsed,
                            metrics, settings, changes));
            log("saved " + dir);
            for (Path old : TrainCheckpoint.prune(config.outDir(), step, config.keepCheckpoints())) {
                log("deleted " + old + " (--keep-checkpoints " + config.keepCheckpoints() + ")");
            }
        }
        dp.barrier("waiting for rank 0 to write " + dir.getFileName());
    }

    private static double[] divide(double[] values, int by) {
        for (int i = 0; i < values.length; i++) {
            values[i] /= by;
        }
        return values;
    }

    /** Multiplies every defined gradient by {@code factor}. */
    static void scaleGradients(Collection<Tensor> params, double factor) {
        try (NoGradGuard g = new NoGradGuard()) {
            for (Tensor p : params) {
                Tensor grad = p.grad();
                if (grad != null && grad.defined()) {
                    grad.mul_(new Scalar(factor));
                }
            }
        }
    }

    /**
     * The global L2 norm of the gradients, then (when {@code maxNorm > 0}) every gradient scaled by
     * {@code min(1, maxNorm / (norm + 1e-6))}, as {@code torch.nn.utils.clip_grad_norm_}. Returns the norm before
     * clipping.
     */
    public static double clipGradNorm(Collection<Tensor> params, double maxNorm) {
        double sumSq = 0;
        List<Tensor> grads = new ArrayList<>();
        try (NoGradGuard g = new NoGradGuard()) {
            for (Tensor p : params) {
                Tensor grad = p.grad();
                if (grad != null && grad.defined()) {
                    grads.add(grad);
                    double n = grad.norm().item_double();
                    sumSq += n * n;
                }
            }
            double norm = Math.sqrt(sumSq);
            if (maxNorm > 0) {
                double coef = maxNorm / (norm + 1e-6);
                if (coef < 1.0) {
                    for (Tensor grad : grads) {
                        grad.mul_(new Scalar(coef));
                    }
                }
            }
            return norm;
        }
    }

    private BufferedWriter openMetrics(Path file) throws IOException {
        BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
        // A resumed run rewrites the lines up to its checkpoint (a killed run may have written more after it).
        for (StepMetrics m : metrics) {
            w.write(TrainCheckpoint.JSON.writer().without(
                    com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                    .writeValueAsString(TrainCheckpoint.metricsJson(m)));
            w.newLine();
        }
        w.flush();
        return w;
    }

    private ProgressBar progressBar() {
        if (!config.progress()) {
            return null;
        }
        return new ProgressBarBuilder().setTaskName("train").setInitialMax(totalSteps)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500)
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).startsFrom(step, Duration.ZERO)
                .build();
    }

    private void log(String message) {
        if (dp == null || dp.isWriter()) { // data parallel: one voice
            log.println("tasft train: " + message);
        }
    }
}
