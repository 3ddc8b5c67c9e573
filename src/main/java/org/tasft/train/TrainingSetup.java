package org.tasft.train;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;
import org.tasft.chat.ChatSpec;
import org.tasft.data.AlpacaData;
import org.tasft.data.Collator;
import org.tasft.data.EncodedExample;
import org.tasft.data.Example;
import org.tasft.data.ExampleEncoder;
import org.tasft.data.MixedBatchSampler;
import org.tasft.data.StlData;
import org.tasft.distributed.DataParallel;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;
import org.tasft.model.lora.Lora;
import org.tasft.model.lora.LoraConfig;
import org.tasft.tokenizer.PromptTemplate;
import org.tasft.tokenizer.Tokenizer;

/**
 * Everything a training run is built from, before its first step: the data (stl's refusal pairs, the vocabulary
 * check, the seeded sampler and this rank's shard of it), the model (with LoRA adapters), the objective (with kto's
 * frozen reference), AdamW over what is trained, the schedule, and where a resumed run continues (its checkpoint's
 * settings compared, AdamW's state, the sampler position, the metrics so far). Then the ranks of a data-parallel job
 * are checked to agree and given rank 0's weights. The loop ({@link Trainer}) and its listeners use what this built.
 */
final class TrainingSetup {
    final TrainConfig config;
    final DataParallel dp;
    final TrainLog log;
    final MixedBatchSampler<EncodedExample> sampler;
    final Collator collator;
    final long totalSteps;
    final LrSchedule schedule;
    final CausalLm model;
    /** The LoRA adapters being trained, or null for full fine-tuning. */
    final Lora lora;
    final Objective objective;
    final JavaAdamW optimizer;
    /** The settings that change the result ({@link RunSettings}), recorded in every checkpoint. */
    final Map<String, String> settings;
    /** The settings changed on resume with --allow-change, oldest first (recorded in every checkpoint). */
    final List<String> changes = new ArrayList<>();
    /** Steps done before this process started (0, or the resumed checkpoint's). */
    final long startStep;
    /** Seconds trained before this process started. */
    final double elapsedBefore;
    /** The metrics of the steps before {@link #startStep}. */
    final List<StepMetrics> metricsBefore;

    /** Sets up a fresh run ({@code resume} null) or one continued from a checkpoint folder, as one rank of {@code dp}. */
    TrainingSetup(TrainConfig config, Path resume, TrainLog log, DataParallel dp) {
        this.config = config;
        this.dp = dp;
        this.log = log;
        int maxLength = config.maxLengthForModel(); // the model's context by default; longer is refused here
        TrainCheckpoint.State state = resume == null ? null : TrainCheckpoint.readState(resume);
        Tokenizer tokenizer = Tokenizer.load(config.modelDir());
        this.sampler = sampler(tokenizer, maxLength);
        this.collator = Collator.forTokenizer(tokenizer);
        this.totalSteps = config.steps() > 0 ? config.steps()
                : Math.max(1, (long) Math.ceil(config.epochs() * sampler.stepsPerEpoch()
                        / config.gradientAccumulation()));
        this.schedule = new LrSchedule(config.schedule(), config.learningRate(), config.warmupSteps(), totalSteps);
        if (config.lora() == null) {
            if (resume != null && Files.isDirectory(resume.resolve(TrainCheckpoint.ADAPTER_DIR))) {
                throw new IllegalArgumentException("--resume " + resume + " was trained with LoRA (it holds "
                        + TrainCheckpoint.ADAPTER_DIR + "/): give the same --lora-* options to resume it");
            }
            this.model = Models.load(resume == null ? config.modelDir() : resume, config.placement());
            this.lora = null;
        } else {
            // The base weights are frozen, so they come from --model even when resuming.
            this.model = Models.load(config.modelDir(), config.placement());
            this.lora = resume == null ? Lora.apply(model, config.lora(), config.seed())
                    : loadAdapters(resume, model, config.lora());
            log.line("LoRA r " + config.lora().rank() + ", alpha " + config.lora().alpha() + ", dropout "
                    + config.lora().dropout() + " on " + lora.adapters().size() + " layers "
                    + config.lora().targetModules() + "; the base weights are frozen");
        }
        model.module().train(true);
        if (config.gradientCheckpointing()) {
            model.gradientCheckpointing(true);
        }
        if (!config.placement().isDefault() || config.gradientCheckpointing()) {
            log.line("model on " + config.placement().device() + " in " + config.placement().precision()
                    + (config.placement().precision().isReduced() ? (lora == null
                            ? " (float32 master weights and AdamW state)" : " (float32 LoRA adapters and AdamW state)")
                            : "") + (config.gradientCheckpointing() ? ", gradient checkpointing per decoder layer"
                            : ""));
        }
        this.objective = config.method().objective(config.method().needsReference()
                ? config.objectiveOptions().reference(frozenReference()) : config.objectiveOptions());
        this.optimizer = new JavaAdamW(trainedParameters(), config.weightDecay());
        // data parallel: every rank runs the same options from the same start
        dp.checkSame("training options", config.toString() + ", resume step "
                + (state == null ? 0 : state.step()));
        this.settings = RunSettings.of(config);
        if (state == null) {
            this.startStep = 0;
            this.elapsedBefore = 0;
            this.metricsBefore = List.of();
        } else {
            resumeFrom(resume, state);
            this.startStep = state.step();
            this.elapsedBefore = state.elapsed();
            this.metricsBefore = state.metrics();
            log.line("resumed from " + resume + " at step " + startStep + " (sampler " + state.position() + ")");
        }
        dp.attach(optimizer.params()); // data parallel: rank 0's weights everywhere; gradient buckets
    }

    /** The safe and harmful examples (stl: the harmful prompts with refusals) in the seeded batch sampler. */
    private MixedBatchSampler<EncodedExample> sampler(Tokenizer tokenizer, int maxLength) {
        ExampleEncoder encoder = ChatSpec.isChat(config.template())
                ? new ExampleEncoder(tokenizer, ChatSpec.of(config.template(), config.system())
                        .open(config.modelDir(), tokenizer), maxLength)
                : new ExampleEncoder(tokenizer, PromptTemplate.named(config.template()), maxLength);
        if (encoder.chat() != null) {
            log.line("chat format: " + encoder.chat().template().origin() + (config.system() == null ? ""
                    : ", system message \"" + config.system() + "\"") + "; the loss covers the assistant turn");
        }
        List<EncodedExample> safe = encoder.encodeAll(AlpacaData.read(config.safeFile(), Example.Kind.SAFE));
        List<Example> harmfulExamples = config.harmfulFile() == null ? List.of()
                : AlpacaData.read(config.harmfulFile(), Example.Kind.HARMFUL);
        if (config.method().usesRefusals()) {
            List<String> refusals = config.refusalsFile() == null ? StlData.BUILT_IN_REFUSALS
                    : StlData.readRefusals(config.refusalsFile());
            harmfulExamples = StlData.pairWithRefusals(harmfulExamples, refusals, config.seed());
            log.line("stl: the harmful prompts are paired with " + refusals.size() + " refusal sentences ("
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
        MixedBatchSampler<EncodedExample> s = dp.worldSize() == 1 ? sb.build() : shard(sb.build(), dp);
        log.line("data: " + safe.size() + " safe, " + s.harmfulSubset().size() + " "
                + config.method().harmfulSlotName() + " (of " + harmful.size() + ") examples; batch "
                + config.batchSize() + " (" + config.safePerBatch() + " safe) x " + config.gradientAccumulation()
                + " accumulation; " + s.stepsPerEpoch() + " batches per epoch");
        return s;
    }

    private static MixedBatchSampler<EncodedExample> shard(MixedBatchSampler<EncodedExample> whole,
            DataParallel dp) {
        if (whole.batchSize() % dp.worldSize() != 0) {
            throw new IllegalArgumentException("--batch-size " + whole.batchSize() + " is not a multiple of the "
                    + dp.worldSize() + " ranks (each rank takes batch-size / ranks examples of every batch)");
        }
        return whole.sharded(dp.rank(), dp.worldSize());
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

    /** kto's reference: the starting model once more, frozen (eval mode, no gradients). */
    private CausalLm frozenReference() {
        CausalLm reference = Models.load(config.modelDir(), config.placement());
        reference.module().train(false);
        for (Tensor p : reference.stateDict().values()) {
            p.requires_grad_(false);
        }
        return reference;
    }

    /** What AdamW optimizes, by name: the LoRA adapters, or every weight that takes a gradient. */
    private Map<String, Tensor> trainedParameters() {
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
        return params;
    }

    /** Compares the checkpoint's settings with this run's, then restores AdamW's state and the sampler position. */
    private void resumeFrom(Path resume, TrainCheckpoint.State state) {
        if (state.settings().isEmpty() && state.seed() != config.seed()) { // a checkpoint older than settings
            throw new IllegalArgumentException("--resume " + resume + ": the checkpoint was trained with --seed "
                    + state.seed() + ", not " + config.seed());
        }
        if (state.settings().isEmpty()) {
            log.line("warning: " + resume + " predates recorded settings: only --seed was compared");
        }
        changes.addAll(state.changes());
        for (String change : RunSettings.compare(resume, state.settings(), settings, config.allowedChanges())) {
            changes.add("step " + state.step() + ": " + change);
            log.line("resuming with a changed setting (--allow-change): " + change);
        }
        TrainCheckpoint.loadOptimizer(resume, optimizer);
        sampler.seek(state.position());
    }
}
