package org.tasft.train;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

import org.tasft.io.InputFiles;
import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.model.ModelConfig;
import org.tasft.model.Placement;
import org.tasft.model.lora.LoraConfig;
import org.tasft.train.TaSft.EmbeddingSource;

/**
 * Everything a training run is configured by. Build with {@link #builder()}; {@link Builder#build()} validates and
 * throws {@link IllegalArgumentException} whose message names the offending option by its command-line name.
 *
 * <p>Batching: each optimizer step draws {@code gradientAccumulation} batches of {@code batchSize} examples
 * ({@code safePerBatch} safe, the rest harmful) from the sampler; the effective batch is their product.
 *
 * @param modelDir             Hugging Face model folder to start from (with tokenizer.json)
 * @param safeFile             Alpaca JSON/JSONL file of safe examples
 * @param harmfulFile          Alpaca JSON/JSONL file of harmful examples, or null
 * @param harmfulCount         N, harmful examples to train with (first N of a seeded shuffle); -1 = all
 * @param batchSize            B, examples per micro-batch
 * @param safePerBatch         K, safe examples per micro-batch; -1 = B when there is no harmful data
 * @param maxLength            token limit of an encoded example; {@link #MODEL_LIMIT} (the default) = the model's
 *                             context, {@code max_position_embeddings} (see {@link #maxLengthFor})
 * @param method               the training method (stl: sft on the safe data plus the harmful prompts paired with
 *                             refusals, see {@link org.tasft.data.StlData})
 * @param lambda               weight of the harmful term (emd, nlcl, ga)
 * @param reduction            emd's normalizer
 * @param embedding            emd's unit-embedding source
 * @param beta                 kto's beta
 * @param learningRate         peak learning rate
 * @param weightDecay          AdamW's decoupled weight decay
 * @param warmupSteps          linear warm-up steps
 * @param schedule             cosine | linear | constant decay after warm-up
 * @param steps                optimizer steps; -1 = derive from {@code epochs}
 * @param epochs               epochs over the safe data (used when steps is -1)
 * @param gradientAccumulation micro-batches per optimizer step
 * @param maxGradNorm          clip the global gradient norm to this; <= 0 disables clipping
 * @param seed                 seed of the sampler and of torch
 * @param checkpointEvery      save a checkpoint every this many steps; 0 = only at the end
 * @param outDir               where checkpoints, final/, metrics.jsonl and loss.png go
 * @param progress             show a progress bar on stderr
 * @param lora                 LoRA adapters to train (the base weights frozen), or null for full fine-tuning
 * @param saveAdapters         also write the final adapters as a PEFT folder {@code <out>/adapter/} (LoRA only)
 * @param refusalsFile         stl's refusal sentences, one per line, or null for {@link org.tasft.data.StlData}'s
 * @param keepCheckpoints      keep only the newest K {@code checkpoint-<step>} folders; 0 = keep all
 * @param skipNonFinite        skip (and count) a step whose loss or gradient norm is NaN/Inf instead of stopping
 * @param fusedHead            sft / stl / emd through the fused LM head ({@link FusedHead}; auto by default)
 * @param allowedChanges       settings ({@link RunSettings} names) that may differ from the resumed checkpoint's
 * @param template             how examples become tokens, the {@code --template} value: alpaca (default), raw, a
 *                             template file, or chat / chat:NAME (the model's own chat template, the loss on the
 *                             assistant turn's tokens; see {@link org.tasft.data.ExampleEncoder})
 * @param system               a system message for chat conversations without one ({@code --system}), or null
 * @param placement            the device and dtype of the trained model (see {@link Placement}; float32 on the CPU by
 *                             default). With a reduced dtype, full fine-tuning keeps float32 master weights and
 *                             AdamW state ({@link JavaAdamW}); LoRA keeps the frozen base in that dtype and the
 *                             adapters and their AdamW state in float32
 * @param gradientCheckpointing recompute each decoder layer's forward in backward instead of keeping its activations
 */
public record TrainConfig(Path modelDir, Path safeFile, Path harmfulFile, int harmfulCount, int batchSize,
        int safePerBatch, int maxLength, Method method, double lambda, Reduction reduction, EmbeddingSource embedding,
        double beta, double learningRate, double weightDecay, int warmupSteps, LrSchedule.Kind schedule, long steps,
        double epochs, int gradientAccumulation, double maxGradNorm, long seed, long checkpointEvery, Path outDir,
        boolean progress, LoraConfig lora, boolean saveAdapters, Path refusalsFile, int keepCheckpoints,
        boolean skipNonFinite, FusedHead fusedHead, java.util.Set<String> allowedChanges, String template,
        String system, Placement placement, boolean gradientCheckpointing) {
    /**
     * The default weight of the harmful term of {@code train} (emd, emd-cap, nlcl, ga): 0.5. The built-in benchmark
     * chooses its own per method on a validation split ({@code tasft experiment}; the default job uses emd's choice),
     * as a user should for a real model and data.
     */
    public static final double DEFAULT_LAMBDA = 0.5;
    /** {@link #DEFAULT_LAMBDA} as the command line's default text. */
    public static final String DEFAULT_LAMBDA_TEXT = "0.5";

    /** {@code maxLength} meaning "the model's context": max_position_embeddings of {@code modelDir}'s config. */
    public static final int MODEL_LIMIT = -1;

    /**
     * The token limit of an example for this model: {@code maxLength}, or the model's context for
     * {@link #MODEL_LIMIT}. A limit past the context is refused: positions beyond it are untrained (Llama) or do not
     * exist (GPT-2's learned positions fail at the first long batch).
     *
     * @throws IllegalArgumentException naming --max-length and the model's limit
     */
    public static int maxLengthFor(int maxLength, Path modelDir, ModelConfig model) {
        int context = model.maxPositionEmbeddings();
        if (maxLength == MODEL_LIMIT) {
            return context;
        }
        if (maxLength > context) {
            throw new IllegalArgumentException("--max-length " + maxLength + " is longer than the model's context: "
                    + modelDir + " has max_position_embeddings " + context + " (give --max-length " + context
                    + " or less, or leave it out to use " + context + ")");
        }
        return maxLength;
    }

    /** {@link #maxLengthFor} of this run's {@code maxLength} and {@code modelDir}'s config.json. */
    public int maxLengthForModel() {
        Path configJson = modelDir.resolve("config.json");
        if (!Files.isRegularFile(configJson)) {
            throw new IllegalArgumentException("--model " + modelDir + ": no config.json (expected a Hugging Face "
                    + "model folder)");
        }
        return maxLengthFor(maxLength, modelDir, ModelConfig.read(configJson));
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.modelDir = modelDir;
        b.safeFile = safeFile;
        b.harmfulFile = harmfulFile;
        b.harmfulCount = harmfulCount;
        b.batchSize = batchSize;
        b.safePerBatch = safePerBatch;
        b.maxLength = maxLength;
        b.method = method;
        b.lambda = lambda;
        b.reduction = reduction;
        b.embedding = embedding;
        b.beta = beta;
        b.learningRate = learningRate;
        b.weightDecay = weightDecay;
        b.warmupSteps = warmupSteps;
        b.schedule = schedule;
        b.steps = steps;
        b.epochs = epochs;
        b.gradientAccumulation = gradientAccumulation;
        b.maxGradNorm = maxGradNorm;
        b.seed = seed;
        b.checkpointEvery = checkpointEvery;
        b.outDir = outDir;
        b.progress = progress;
        b.loraRank = lora == null ? 0 : lora.rank();
        if (lora != null) {
            b.loraAlpha = lora.alpha();
            b.loraDropout = lora.dropout();
            b.loraTargets = lora.targetModules();
        }
        b.saveAdapters = saveAdapters;
        b.refusalsFile = refusalsFile;
        b.keepCheckpoints = keepCheckpoints;
        b.skipNonFinite = skipNonFinite;
        b.fusedHead = fusedHead;
        b.allowedChanges = allowedChanges;
        b.template = template;
        b.system = system;
        b.placement = placement;
        b.gradientCheckpointing = gradientCheckpointing;
        return b;
    }

    /**
     * The default of every setting that has one, by its command-line name without the dashes ("lr", "batch-size"):
     * the builder's own defaults, so that they are written once (the CLI shows and applies these).
     */
    public static java.util.Map<String, Object> defaults() {
        Builder d = new Builder();
        java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("method", d.method);
        m.put("lambda", d.lambda);
        m.put("reduction", d.reduction);
        m.put("embedding", d.embedding);
        m.put("beta", d.beta);
        m.put("epochs", d.epochs);
        m.put("batch-size", d.batchSize);
        m.put("lr", d.learningRate);
        m.put("weight-decay", d.weightDecay);
        m.put("warmup-steps", d.warmupSteps);
        m.put("schedule", d.schedule);
        m.put("grad-accum", d.gradientAccumulation);
        m.put("max-grad-norm", d.maxGradNorm);
        m.put("seed", d.seed);
        m.put("checkpoint-every", d.checkpointEvery);
        m.put("keep-checkpoints", d.keepCheckpoints);
        m.put("lora-rank", d.loraRank);
        return m;
    }

    /** Objective options for {@link Method#objective} (without kto's reference model). */
    public Objectives.Options objectiveOptions() {
        return Objectives.Options.defaults().lambda(lambda).reduction(reduction).embedding(embedding).beta(beta)
                .fusedHead(fusedHead);
    }

    /** Builder with the defaults of {@code tasft train}. */
    public static final class Builder {
        private Path modelDir;
        private Path safeFile;
        private Path harmfulFile;
        private int harmfulCount = -1;
        private int batchSize = 8;
        private int safePerBatch = -1;
        private int maxLength = MODEL_LIMIT;
        private Method method = Method.EMD;
        private double lambda = DEFAULT_LAMBDA;
        private Reduction reduction = Reduction.SEQUENCE;
        private EmbeddingSource embedding = EmbeddingSource.INPUT;
        private double beta = Kto.DEFAULT_BETA;
        private double learningRate = 2e-5;
        private double weightDecay = 0.0;
        private int warmupSteps = 0;
        private LrSchedule.Kind schedule = LrSchedule.Kind.COSINE;
        private long steps = -1;
        private double epochs = 1.0;
        private int gradientAccumulation = 1;
        private double maxGradNorm = 1.0;
        private long seed = 42;
        private long checkpointEvery = 0;
        private Path outDir;
        private boolean progress = true;
        private int loraRank = 0;
        private Double loraAlpha;
        private Double loraDropout;
        private List<String> loraTargets;
        private boolean saveAdapters;
        private Path refusalsFile;
        private int keepCheckpoints = 0;
        private boolean skipNonFinite;
        private FusedHead fusedHead = FusedHead.AUTO;
        private java.util.Set<String> allowedChanges = java.util.Set.of();
        private String template = "alpaca";
        private String system;
        private Placement placement = Placement.CPU_FLOAT32;
        private boolean gradientCheckpointing;

        public Builder modelDir(Path v) { modelDir = v; return this; }
        public Builder safeFile(Path v) { safeFile = v; return this; }
        public Builder harmfulFile(Path v) { harmfulFile = v; return this; }
        public Builder harmfulCount(int v) { harmfulCount = v; return this; }
        public Builder batchSize(int v) { batchSize = v; return this; }
        public Builder safePerBatch(int v) { safePerBatch = v; return this; }
        public Builder maxLength(int v) { maxLength = v; return this; }
        public Builder method(Method v) { method = v; return this; }
        public Builder lambda(double v) { lambda = v; return this; }
        public Builder reduction(Reduction v) { reduction = v; return this; }
        public Builder embedding(EmbeddingSource v) { embedding = v; return this; }
        public Builder beta(double v) { beta = v; return this; }
        public Builder learningRate(double v) { learningRate = v; return this; }
        public Builder weightDecay(double v) { weightDecay = v; return this; }
        public Builder warmupSteps(int v) { warmupSteps = v; return this; }
        public Builder schedule(LrSchedule.Kind v) { schedule = v; return this; }
        public Builder steps(long v) { steps = v; return this; }
        public Builder epochs(double v) { epochs = v; return this; }
        public Builder gradientAccumulation(int v) { gradientAccumulation = v; return this; }
        public Builder maxGradNorm(double v) { maxGradNorm = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder checkpointEvery(long v) { checkpointEvery = v; return this; }
        public Builder outDir(Path v) { outDir = v; return this; }
        public Builder progress(boolean v) { progress = v; return this; }
        /** LoRA rank r; 0 (the default) = full fine-tuning. */
        public Builder loraRank(int v) { loraRank = v; return this; }
        /** lora_alpha (default 16, Safety-Tuned-Llamas'). */
        public Builder loraAlpha(double v) { loraAlpha = v; return this; }
        /** lora_dropout (default 0.05). */
        public Builder loraDropout(double v) { loraDropout = v; return this; }
        /** target_modules (default q_proj, v_proj). */
        public Builder loraTargets(List<String> v) { loraTargets = v; return this; }
        public Builder saveAdapters(boolean v) { saveAdapters = v; return this; }
        public Builder refusalsFile(Path v) { refusalsFile = v; return this; }
        /** The {@code --template} value: alpaca, raw, a template file, chat or chat:NAME. */
        public Builder template(String v) { template = v; return this; }
        /** A system message ({@code --template chat} only), or null. */
        public Builder system(String v) { system = v; return this; }
        public Builder keepCheckpoints(int v) { keepCheckpoints = v; return this; }
        public Builder skipNonFinite(boolean v) { skipNonFinite = v; return this; }
        public Builder fusedHead(FusedHead v) { fusedHead = v; return this; }
        /** Settings that may differ from the resumed checkpoint's (see {@link RunSettings#names()}). */
        public Builder placement(Placement v) { placement = Objects.requireNonNull(v, "placement"); return this; }
        public Builder gradientCheckpointing(boolean v) { gradientCheckpointing = v; return this; }
        public Builder allowChanges(java.util.Collection<String> v) {
            allowedChanges = java.util.Set.copyOf(v);
            return this;
        }

        public TrainConfig build() {
            require(modelDir != null, "--model is required");
            ModelConfig.requireFolder(modelDir, "--model"); // missing, unreadable (permission), no config.json, ...
            require(safeFile != null, "--safe is required");
            InputFiles.requireReadableFile(safeFile, "--safe"); // missing, a folder, a FIFO, unreadable
            if (harmfulFile != null) {
                InputFiles.requireReadableFile(harmfulFile, "--harmful");
            }
            require(outDir != null, "--out is required");
            require(harmfulCount >= -1, "--harmful-count must be >= 0, got " + harmfulCount);
            require(harmfulFile != null || harmfulCount <= 0,
                    "--harmful-count " + harmfulCount + " needs --harmful FILE");
            require(batchSize >= 1, "--batch-size must be >= 1, got " + batchSize);
            boolean harmfulData = harmfulFile != null && harmfulCount != 0;
            int k = safePerBatch < 0 ? (harmfulData ? -1 : batchSize) : safePerBatch;
            require(method != null, "--method is required");
            Method m = method;
            if (m.needsHarmful()) {
                // Without harmful examples these methods would silently train plain SFT.
                require(harmfulFile != null, "--method " + m + " trains on harmful examples: give --harmful FILE "
                        + "(--method sft trains on safe data alone)");
                require(harmfulCount != 0, "--harmful-count 0 leaves --method " + m + " no harmful examples");
            }
            require(k >= 0, "--safe-per-batch is required with --harmful (K safe and B - K harmful per batch)");
            require(k <= batchSize, "--safe-per-batch " + k + " is larger than --batch-size " + batchSize);
            require(k == batchSize || harmfulData, "--safe-per-batch " + k + " < --batch-size " + batchSize
                    + " asks for harmful examples: give --harmful FILE");
            if (m.needsHarmful()) {
                require(k < batchSize, "--safe-per-batch " + k + " = --batch-size " + batchSize
                        + " leaves no room in a batch for the harmful examples that --method " + m + " needs");
            }
            require(maxLength == MODEL_LIMIT || maxLength >= 2, "--max-length must be >= 2, got " + maxLength);
            require(refusalsFile == null || m.usesRefusals(), "--refusals is only used by --method stl");
            if (refusalsFile != null) {
                InputFiles.requireReadableFile(refusalsFile, "--refusals");
            }
            require(Double.isFinite(lambda) && lambda >= 0, "--lambda must be a finite number >= 0, got " + lambda);
            require(Double.isFinite(beta) && beta > 0, "--beta must be > 0, got " + beta);
            Objects.requireNonNull(reduction, "--reduction");
            Objects.requireNonNull(embedding, "--embedding");
            Objects.requireNonNull(schedule, "--schedule");
            require(Double.isFinite(learningRate) && learningRate > 0, "--lr must be a finite number > 0, got "
                    + learningRate);
            require(Double.isFinite(weightDecay) && weightDecay >= 0, "--weight-decay must be >= 0, got "
                    + weightDecay);
            require(warmupSteps >= 0, "--warmup-steps must be >= 0, got " + warmupSteps);
            require(steps == -1 || steps >= 1, "--steps must be >= 1, got " + steps);
            require(steps >= 1 || (Double.isFinite(epochs) && epochs > 0), "--epochs must be > 0, got " + epochs);
            require(gradientAccumulation >= 1, "--grad-accum must be >= 1, got " + gradientAccumulation);
            require(!Double.isNaN(maxGradNorm), "--max-grad-norm must be a number");
            require(checkpointEvery >= 0, "--checkpoint-every must be >= 0, got " + checkpointEvery);
            require(keepCheckpoints >= 0, "--keep-checkpoints must be >= 0 (0 keeps all), got " + keepCheckpoints);
            Objects.requireNonNull(template, "--template");
            if (org.tasft.chat.ChatSpec.isChat(template)) {
                org.tasft.chat.ChatSpec.of(template, system); // chat:NAME names a template
            } else {
                require(system == null, "--system needs --template chat (a text template has no system message)");
                org.tasft.tokenizer.PromptTemplate.named(template); // a known name or a readable template file
            }
            LoraConfig lora = loraConfig();
            require(!saveAdapters || lora != null, "--save-adapters needs LoRA (--lora-rank > 0)");
            for (String name : allowedChanges) {
                require(RunSettings.names().contains(name), "--allow-change: unknown setting '" + name
                        + "' (expected some of " + String.join(", ", new java.util.TreeSet<>(RunSettings.names()))
                        + ")");
            }
            return new TrainConfig(modelDir, safeFile, harmfulFile, harmfulCount, batchSize, k, maxLength, m, lambda,
                    reduction, embedding, beta, learningRate, weightDecay, warmupSteps, schedule, steps, epochs,
                    gradientAccumulation, maxGradNorm, seed, checkpointEvery, outDir, progress, lora, saveAdapters,
                    refusalsFile, keepCheckpoints, skipNonFinite, Objects.requireNonNull(fusedHead, "--fused-head"),
                    allowedChanges, template, system, placement, gradientCheckpointing);
        }

        /** The LoRA settings alone (for --plan, which needs no data or output folder); null for rank 0. */
        public LoraConfig loraConfigForPlan() {
            return loraConfig();
        }

        /** The LoRA settings, checked with the command line's names; null for full fine-tuning (rank 0). */
        private LoraConfig loraConfig() {
            require(loraRank >= 0, "--lora-rank must be >= 0 (0 = full fine-tuning), got " + loraRank);
            if (loraRank == 0) {
                require(loraAlpha == null && loraDropout == null && loraTargets == null,
                        "--lora-alpha, --lora-dropout and --lora-targets need --lora-rank > 0");
                return null;
            }
            double alpha = loraAlpha == null ? LoraConfig.SAFETY_TUNED_LLAMAS.alpha() : loraAlpha;
            double dropout = loraDropout == null ? LoraConfig.SAFETY_TUNED_LLAMAS.dropout() : loraDropout;
            List<String> targets = loraTargets == null ? LoraConfig.SAFETY_TUNED_LLAMAS.targetModules() : loraTargets;
            require(Double.isFinite(alpha) && alpha > 0, "--lora-alpha must be a finite number > 0, got " + alpha);
            require(dropout >= 0 && dropout < 1, "--lora-dropout must be in [0, 1), got " + dropout);
            List<String> names = new ArrayList<>();
            for (String t : targets) {
                String name = t == null ? "" : t.trim();
                require(!name.isEmpty() && !name.startsWith(".") && !name.endsWith("."),
                        "--lora-targets: not a module name: '" + t + "' (expected e.g. q_proj,v_proj)");
                names.add(name);
            }
            require(!names.isEmpty(), "--lora-targets must name at least one module (e.g. q_proj,v_proj)");
            return new LoraConfig(loraRank, alpha, dropout, names);
        }

        private static void require(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException(message);
            }
        }
    }
}
