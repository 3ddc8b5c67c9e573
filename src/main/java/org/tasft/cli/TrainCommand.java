package org.tasft.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import org.tasft.checkpoint.OutputFolder;
import org.tasft.benchmark.BenchmarkSettings;
import org.tasft.benchmark.BenchmarkSetup;
import org.tasft.benchmark.DefaultJob;
import org.tasft.distributed.DataParallel;
import org.tasft.distributed.LaunchEnvironment;
import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.model.ModelConfig;
import org.tasft.train.FusedHead;
import org.tasft.model.Placement;
import org.tasft.train.LrSchedule;
import org.tasft.train.MemoryPlan;
import org.tasft.train.Method;
import org.tasft.train.RunFolder;
import org.tasft.train.TaSft.EmbeddingSource;
import org.tasft.train.TrainConfig;
import org.tasft.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code tasft train}: fine-tune a model with TA-SFT or a baseline on explicit data files. */
@Command(name = "train", defaultValueProvider = TrainDefaults.class,
        description = {"Fine-tune a model on safe data plus (optionally) a few harmful examples with TA-SFT (emd) or a "
                + "baseline (sft, nlcl, ga, kto, stl), fully or with LoRA. Writes checkpoints, final/, metrics.jsonl "
                + "and loss.png under --out."},
        footer = {"", "Without --model and --safe, train runs the built-in default job, offline: it writes the "
                + "synthetic benchmark under --out (default runs/default)/data, pretrains a small unsafe Llama (cached "
                + "in ~/.cache/tasft/unsafe-base-<hash>; --cache DIR or -Dtasft.cache moves it), fine-tunes it with "
                + "TA-SFT (emd) "
                + "into --out, evaluates both (harmful-compliance rate, benign accuracy) and writes summary.json. "
                + "Its other options are fixed.",
            "", "Examples:",
            "  tasft train                    # the default job",
            "  tasft train --model DIR --safe safe.json --harmful harmful.json --harmful-count 100 \\",
            "      --batch-size 8 --safe-per-batch 7 --method emd --lambda 0.25 --steps 500 --out runs/emd",
            "  tasft train ... --lora-rank 8 --save-adapters   # LoRA; final/ merged",
            "  tasft train ... --method stl --harmful harmful.json --harmful-count 100",
            "  tasft train --model DIR --safe safe.json --out runs/emd --steps 500 --resume runs/emd/checkpoint-200",
            "  tasft train --nproc-per-node 2 ...   # 2 data-parallel ranks on this machine"})
final class TrainCommand implements Callable<Integer> {
    @Mixin
    HelpOption help;

    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model folder with tokenizer.json "
            + "(required, with --safe; neither: the default job).")
    Path model;

    @Option(names = "--safe", paramLabel = "FILE", description = "Safe examples, Alpaca JSON or JSONL (required).")
    Path safe;

    @Option(names = "--harmful", paramLabel = "FILE", description = "Harmful examples, Alpaca JSON or JSONL.")
    Path harmful;

    @Option(names = "--harmful-count", paramLabel = "N", description = "Harmful examples to use (default: all).")
    Integer harmfulCount;

    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (required).")
    Path out;

    @Option(names = "--method", converter = MethodConverters.Single.class,
            description = "emd | sft | nlcl | ga | kto | stl | emd-cap (default: ${DEFAULT-VALUE}). stl: the harmful "
                    + "prompts paired with refusals, learned with sft. emd-cap: a variant of emd (not the paper's) "
                    + "that stops pushing a token once its distance reaches 1.")
    Method method;

    @Option(names = "--refusals", paramLabel = "FILE",
            description = "stl's refusal sentences, one per line (default: a built-in list).")
    Path refusals;

    @Option(names = "--lambda", description = "Weight of the harmful term (default: ${DEFAULT-VALUE}; the default "
            + "job and the experiment "
                    + "use the same). The logged term is lambda * L_EMD <= 0 for emd.")
    double lambda;

    @Option(names = "--reduction", description = "emd's normalizer: sequence | token (default: ${DEFAULT-VALUE}).")
    String reduction;

    @Option(names = "--embedding", description = "emd's embedding: input | lm_head (default: ${DEFAULT-VALUE}).")
    String embedding;

    @Option(names = "--beta", description = "kto's beta (default: ${DEFAULT-VALUE}).")
    double beta;

    @Option(names = "--steps", description = "Optimizer steps (default: from --epochs).")
    Long steps;

    @Option(names = "--epochs", description = "Epochs over the safe data when --steps is not given "
            + "(default: ${DEFAULT-VALUE}).")
    double epochs;

    @Option(names = "--batch-size", description = "Examples per micro-batch, B (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--safe-per-batch", description = "Safe examples per micro-batch, K (B - K harmful).")
    Integer safePerBatch;

    @Option(names = "--max-length", paramLabel = "N", description = "Token limit of an example (default: the "
            + "model's max_position_embeddings; more is an error).")
    Integer maxLength;

    @Option(names = "--lr", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--weight-decay", description = "AdamW weight decay (default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--warmup-steps", description = "Linear warm-up steps (default: ${DEFAULT-VALUE}).")
    int warmupSteps;

    @Option(names = "--schedule", description = "cosine | linear | constant (default: ${DEFAULT-VALUE}).")
    String schedule;

    @Option(names = "--grad-accum", description = "Micro-batches per optimizer step (default: ${DEFAULT-VALUE}).")
    int gradAccum;

    @Option(names = "--max-grad-norm", description = "Gradient clipping (<= 0: none; default: ${DEFAULT-VALUE}).")
    double maxGradNorm;

    @Option(names = "--seed", description = "Seed of the data order and torch (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--checkpoint-every", description = "Checkpoint every N steps (0: at the end; default: "
            + "${DEFAULT-VALUE}).")
    long checkpointEvery;

    @Option(names = "--keep-checkpoints", paramLabel = "K",
            description = "Keep only the newest K checkpoint-<step> folders (0: all; default: ${DEFAULT-VALUE}).")
    int keepCheckpoints;

    @Option(names = "--resume", paramLabel = "DIR", description = "Continue from a checkpoint-<step> folder.")
    Path resume;

    @Option(names = "--overwrite", description = "Replace the run that --out holds (its checkpoints, final/, metrics).")
    boolean overwrite;

    @Option(names = "--allow-change", paramLabel = "LIST", split = ",",
            description = "With --resume: settings that may differ from the checkpoint's (e.g. steps,lr); recorded in "
                    + "its trainer_state.json. Without it a resumed run must use the same settings.")
    List<String> allowChange;

    @Option(names = "--fused-head", paramLabel = "auto|on|off",
            description = "sft, stl and emd: compute the LM head, the losses and their gradients in one fused kernel "
                    + "from the final hidden states, without the [tokens, vocab] logits (default: auto = on for "
                    + "float32 heads on the CPU; see README).")
    String fusedHead = "auto";

    @Option(names = "--skip-nonfinite-steps", description = "Skip (and count) a step whose loss or gradient norm is "
            + "NaN/Inf instead of stopping the run.")
    boolean skipNonFinite;

    @Option(names = "--lora-rank", paramLabel = "R",
            description = "LoRA rank; 0 fine-tunes every weight (default: ${DEFAULT-VALUE}).")
    int loraRank;

    @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA alpha (default 16; the update is scaled by "
            + "alpha / r).")
    Double loraAlpha;

    @Option(names = "--lora-dropout", paramLabel = "P", description = "LoRA dropout (default 0.05).")
    Double loraDropout;

    @Option(names = "--lora-targets", paramLabel = "LIST", split = ",",
            description = "Modules LoRA adapts, comma-separated (default: q_proj,v_proj).")
    List<String> loraTargets;

    @Option(names = "--save-adapters", description = "Also write the final LoRA adapters to --out/adapter (PEFT: "
            + "adapter_model.safetensors + adapter_config.json).")
    boolean saveAdapters;

    @Option(names = "--cache", paramLabel = "DIR", description = "The default job's cache of unsafe base models "
            + "(default: -Dtasft.cache, else ~/.cache/tasft).")
    Path cache;

    @Mixin
    ProgressOption progress;

    @Mixin
    DeviceOptions deviceOptions;

    @Option(names = "--gradient-checkpointing", description = "Keep only each decoder layer's input in the forward "
            + "and recompute the layer in backward: activation memory of one layer instead of all, ~1/3 more compute.")
    boolean gradientCheckpointing;

    @Option(names = "--plan", description = "Print the memory plan (weights, gradients, optimizer state, "
            + "activations with and without checkpointing, logits) for these options and exit; nothing is loaded.")
    boolean plan;

    @Option(names = "--device-memory", paramLabel = "SIZE", description = "With --plan: the memory of one device "
            + "(e.g. 80GiB); the plan says whether a step fits.")
    String deviceMemory;

    @Mixin
    DataParallelOptions dataParallel; // data parallel: --nproc-per-node, --dist-* (see README "Data-parallel training")

    @Mixin
    TemplateOptions templateOptions;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (plan) {
            return printPlan();
        }
        if (deviceMemory != null) {
            throw new UsageException("--device-memory is for --plan");
        }
        Placement placement = deviceOptions.placement(); // a device it cannot have fails first, before any work
        if (!dataParallel.launches() && model != null && safe != null
                && !LaunchEnvironment.fromEnvironment().isDistributed()) {
            // --device cuda on a machine with several GPUs: one rank per GPU, as if --nproc-per-node had said so
            int ranks = deviceOptions.defaultRanksPerNode();
            if (ranks > 1) {
                dataParallel.nprocPerNode = ranks;
            }
        }
        if (dataParallel.launches()) { // data parallel: this process starts the ranks and waits for them
            if (model == null && safe == null) {
                throw new UsageException("--nproc-per-node needs --model and --safe (the default job runs in one "
                        + "process)");
            }
            checkMaxLength();
            // Everything a rank would refuse is refused here, once, before any child JVM starts.
            int ranks = dataParallel.checkedRanks();
            TrainConfig config = config();
            if (config.batchSize() % ranks != 0) {
                throw new UsageException("--batch-size " + config.batchSize() + " is not a multiple of the " + ranks
                        + " ranks (" + dataParallel.ranksOption() + "): each rank takes batch-size / ranks examples "
                        + "of every batch");
            }
            RunFolder.open(config.outDir(), resume != null, overwrite, message -> { }).close(); // rank 0 says it
            return dataParallel.launch(spec.root().commandLine().getParseResult().originalArgs(), System.err);
        }
        if (model == null && safe == null) {
            // The built-in default job: synthetic data, an unsafe base model (cached), TA-SFT, evaluation.
            Path dir = out != null ? out : Path.of("runs", "default");
            OutputPaths.requireWritableFolder("--out", dir);
            try (OutputFolder folder = OutputFolder.open(dir, "--out", DefaultJob.COMMAND, DefaultJob::isOutput,
                    this::warn)) {
                List<String> previous = folder.previousEntries();
                if (!previous.isEmpty()) {
                    warn("replacing the earlier default job's outputs in " + dir + " (" + String.join(", ", previous)
                            + ")");
                    folder.deletePrevious();
                }
                new DefaultJob(BenchmarkSettings.defaults(), dir, cacheRoot(cache), System.err,
                        placement).run();
            }
            return 0;
        }
        TrainConfig config = config();
        checkMaxLength();
        DataParallel dp = dataParallel.join(System.err); // data parallel: a rank of a launched job, or one process
        DataParallelOptions.runAs(dp, d -> {
            // data parallel: rank 0 alone touches --out; it holds the folder's lock for the whole run
            try (RunFolder folder = d.isWriter() ? RunFolder.open(config.outDir(), resume != null, overwrite,
                    this::warn) : null) {
                Trainer trainer = new Trainer(config, resume, System.err, d);
                if (folder != null) {
                    folder.deletePrevious();
                }
                return trainer.run();
            }
        });
        return 0;
    }

    /** The run's configuration from the options, checked (as TrainConfig checks it) with a writable --out. */
    private TrainConfig config() {
        if (model == null || safe == null) {
            throw new UsageException("--model and --safe are required together (without both, train runs the "
                    + "built-in default job)");
        }
        if (cache != null) {
            throw new UsageException("--cache is the default job's cache; it has no use with --model and --safe");
        }
        if (resume != null && overwrite) {
            throw new UsageException("--resume continues the run in --out; --overwrite would delete it: give one");
        }
        // TrainConfig takes -1 for "not given": a negative value typed on the command line is an error, not that
        if (safePerBatch != null && safePerBatch < 0) {
            throw new UsageException("--safe-per-batch must be >= 0, got " + safePerBatch);
        }
        if (harmfulCount != null && harmfulCount < 0) {
            throw new UsageException("--harmful-count must be >= 0, got " + harmfulCount);
        }
        if (steps != null && steps < 1) {
            throw new UsageException("--steps must be >= 1, got " + steps);
        }
        TrainConfig.Builder b = TrainConfig.builder().modelDir(model).safeFile(safe).harmfulFile(harmful)
                .outDir(out).method(method).lambda(lambda).beta(beta).epochs(epochs).batchSize(batchSize)
                .maxLength(maxLength == null ? TrainConfig.MODEL_LIMIT : maxLength).learningRate(lr)
                .weightDecay(weightDecay).warmupSteps(warmupSteps)
                .schedule(LrSchedule.Kind.parse(schedule)).gradientAccumulation(gradAccum).maxGradNorm(maxGradNorm)
                .seed(seed).checkpointEvery(checkpointEvery).progress(progress.show())
                .reduction(parse(Reduction.class, "--reduction", reduction))
                .embedding(parse(EmbeddingSource.class, "--embedding", embedding));
        if (harmfulCount != null) {
            b.harmfulCount(harmfulCount);
        }
        if (safePerBatch != null) {
            b.safePerBatch(safePerBatch);
        }
        if (steps != null) {
            b.steps(steps);
        }
        b.placement(deviceOptions.placement()).gradientCheckpointing(gradientCheckpointing);
        b.loraRank(loraRank).saveAdapters(saveAdapters).refusalsFile(refusals).keepCheckpoints(keepCheckpoints)
                .skipNonFinite(skipNonFinite).template(templateOptions.value("alpaca")).system(templateOptions.system);
        templateOptions.chatSpec(); // --system without --template chat, a bad chat:NAME: usage errors
        b.fusedHead(fusedHeadChoice());
        if (allowChange != null) {
            if (resume == null) {
                throw new UsageException("--allow-change is for --resume (the settings a resumed run may change)");
            }
            b.allowChanges(allowChange.stream().map(String::trim).toList());
        }
        if (loraAlpha != null) {
            b.loraAlpha(loraAlpha);
        }
        if (loraDropout != null) {
            b.loraDropout(loraDropout);
        }
        if (loraTargets != null) {
            b.loraTargets(loraTargets);
        }
        TrainConfig config = b.build();
        OutputPaths.requireWritableFolder("--out", config.outDir());
        return config;
    }

    /**
     * {@code --plan}: the memory arithmetic for these options (sequence: --max-length, else the model's context), per
     * rank of --nproc-per-node x --nnodes; the device is not resolved, so a plan for a GPU is made anywhere.
     */
    private int printPlan() {
        if (model == null) {
            throw new UsageException("--plan needs --model (and the options of the run to plan)");
        }
        ModelConfig modelConfig;
        try {
            ModelConfig.requireFolder(model, "--model");
            modelConfig = ModelConfig.read(model.resolve("config.json"));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage(), e);
        }
        double memory = 0;
        if (deviceMemory != null) {
            try {
                memory = MemoryPlan.parseBytes(deviceMemory);
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage(), e);
            }
        }
        int ranks = dataParallel.launches() ? dataParallel.checkedRanks() : 1;
        int sequence = maxLength != null ? maxLength : modelConfig.maxPositionEmbeddings();
        TrainConfig.Builder b = TrainConfig.builder().loraRank(loraRank).batchSize(batchSize);
        if (loraAlpha != null) {
            b.loraAlpha(loraAlpha);
        }
        if (loraDropout != null) {
            b.loraDropout(loraDropout);
        }
        if (loraTargets != null) {
            b.loraTargets(loraTargets);
        }
        org.tasft.model.lora.LoraConfig lora;
        try {
            lora = b.loraConfigForPlan();
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage(), e);
        }
        if (batchSize % ranks != 0) {
            throw new UsageException("--batch-size " + batchSize + " is not a multiple of the " + ranks + " ranks");
        }
        org.tasft.model.Precision precision = deviceOptions.precision();
        int headThreads = MemoryPlan.fusedHeadThreads(fusedHeadChoice(), method, precision,
                !deviceOptions.placement().isCuda(), org.bytedeco.pytorch.global.torch.get_num_threads());
        MemoryPlan memoryPlan = new MemoryPlan(modelConfig, batchSize / ranks, sequence, precision, lora, ranks,
                precision.isReduced(), headThreads);
        java.io.PrintWriter out = spec.commandLine().getOut();
        for (String line : memoryPlan.lines(gradientCheckpointing, memory)) {
            out.println(line);
        }
        out.printf(Locale.ROOT, "  (sequence %d: %s)%n", sequence, maxLength != null ? "--max-length"
                : "the model's context; give --max-length for your data's");
        out.flush();
        return 0;
    }

    private void warn(String message) {
        java.io.PrintWriter err = spec.commandLine().getErr();
        err.println("tasft train: warning: " + message);
        err.flush();
    }

    /**
     * A --max-length past the model's context fails here, before any data, model or rank is loaded (the trainer
     * checks again; a missing config.json is left to its usual error).
     */
    private void checkMaxLength() {
        Path configJson = model == null ? null : model.resolve("config.json");
        if (maxLength != null && configJson != null && Files.isRegularFile(configJson)) {
            TrainConfig.maxLengthFor(maxLength, model, ModelConfig.read(configJson));
        }
    }

    /** The default job's cache root: --cache, else DefaultJob's default (-Dtasft.cache, else ~/.cache/tasft). */
    static Path cacheRoot(Path option) {
        return option != null ? option : BenchmarkSetup.defaultCacheRoot();
    }

    private static <E extends Enum<E>> E parse(Class<E> type, String option, String value) {
        try {
            return Enum.valueOf(type, value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            StringBuilder names = new StringBuilder();
            for (E c : type.getEnumConstants()) {
                names.append(names.length() == 0 ? "" : ", ").append(c.name().toLowerCase(Locale.ROOT));
            }
            throw new UsageException(option + " '" + value + "': expected one of " + names);
        }
    }

    /** {@code --fused-head} parsed; a bad value is a usage error. */
    private FusedHead fusedHeadChoice() {
        try {
            return FusedHead.parse(fusedHead);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }
}
