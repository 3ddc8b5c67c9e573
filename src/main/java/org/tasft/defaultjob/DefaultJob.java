package org.tasft.defaultjob;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;

import org.tasft.checkpoint.AtomicFolder;
import org.tasft.checkpoint.OutputFolder;
import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.loss.EmdLoss;
import org.tasft.model.CausalLm;
import org.tasft.model.ModelConfig;
import org.tasft.model.Models;
import org.tasft.synthetic.SyntheticBenchmark;
import org.tasft.synthetic.SyntheticCorpus;
import org.tasft.synthetic.SyntheticEvaluator;
import org.tasft.synthetic.SyntheticSizes;
import org.tasft.tokenizer.Tokenizer;
import org.tasft.train.LrSchedule;
import org.tasft.train.Method;
import org.tasft.train.RunFolder;
import org.tasft.train.StepMetrics;
import org.tasft.train.TrainConfig;
import org.tasft.train.Trainer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

/**
 * The built-in job of {@code tasft train} without arguments, offline: writes the synthetic benchmark, pretrains a
 * small Llama on benign answers plus compliant harmful answers until it is unsafe (cached under
 * {@code ~/.cache/tasft/unsafe-base-<hash>/}), fine-tunes it with TA-SFT (emd) on the safe set plus a few harmful
 * examples, and evaluates both models by greedy generation: harmful-compliance rate and benign accuracy, into
 * {@code <out>/summary.json}.
 */
public final class DefaultJob {
    /** The tokenizer (byte-level BPE learned on the synthetic corpus; the Alpaca template's two pieces are one id). */
    public static final String TOKENIZER_RESOURCE = "/org/tasft/defaultjob/tokenizer.json";
    /** System property that overrides the cache root (default {@code ~/.cache/tasft}). */
    public static final String CACHE_PROPERTY = "tasft.cache";
    /** The command the default job's output folder is recorded under ({@link OutputFolder}). */
    public static final String COMMAND = "default-job";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Everything the job does, sized. */
    public record Settings(long seed, SyntheticSizes sizes, int hidden, int layers, int heads, int kvHeads,
                           int intermediate, int maxPositions, int pretrainSteps, int pretrainBatch,
                           double pretrainLr, int fineTuneSteps, int fineTuneBatch, int fineTuneSafePerBatch,
                           int harmfulCount, double fineTuneLr, double lambda, int evalHarmful, int evalBenign,
                           int maxNewTokens, int evalBatch) {
        /**
         * The default job: sized for about 4 minutes on two idle CPU cores (10 at most). 30 harmful examples with
         * lambda 0.5: in the experiment's seeds 1-3 (2026-11-27, docs/results) that left at most 0.9% held-out harmful
         * compliance at 0.9-5.0 points of benign accuracy, where lambda 0.1 often failed to start (EMD's gradient
         * vanishes while the model is sure of its harmful tokens) and 100 examples at lambda 0.5 cost 10 points.
         */
        public static Settings defaults() {
            return builder().build();
        }

        /** The default job's settings, to change by name ({@code builder().fineTuneSteps(10).build()}). */
        public static Builder builder() {
            return new Builder();
        }

        /** These settings, to change by name. */
        public Builder toBuilder() {
            Builder b = new Builder();
            b.seed = seed;
            b.sizes = sizes;
            b.hidden = hidden;
            b.layers = layers;
            b.heads = heads;
            b.kvHeads = kvHeads;
            b.intermediate = intermediate;
            b.maxPositions = maxPositions;
            b.pretrainSteps = pretrainSteps;
            b.pretrainBatch = pretrainBatch;
            b.pretrainLr = pretrainLr;
            b.fineTuneSteps = fineTuneSteps;
            b.fineTuneBatch = fineTuneBatch;
            b.fineTuneSafePerBatch = fineTuneSafePerBatch;
            b.harmfulCount = harmfulCount;
            b.fineTuneLr = fineTuneLr;
            b.lambda = lambda;
            b.evalHarmful = evalHarmful;
            b.evalBenign = evalBenign;
            b.maxNewTokens = maxNewTokens;
            b.evalBatch = evalBatch;
            return b;
        }

        public Settings withSteps(int pretrain, int fineTune) {
            return toBuilder().pretrainSteps(pretrain).fineTuneSteps(fineTune).build();
        }
    }

    /** Builds {@link Settings} by name; every default is written here once. */
    public static final class Builder {
        private long seed = 1;
        private SyntheticSizes sizes = SyntheticSizes.DEFAULT;
        private int hidden = 128;
        private int layers = 4;
        private int heads = 4;
        private int kvHeads = 2;
        private int intermediate = 384;
        private int maxPositions = 128;
        private int pretrainSteps = 1200;
        private int pretrainBatch = 32;
        private double pretrainLr = 2e-3;
        private int fineTuneSteps = 150;
        private int fineTuneBatch = 16;
        private int fineTuneSafePerBatch = 14;
        private int harmfulCount = 30;
        private double fineTuneLr = 3e-4;
        private double lambda = TrainConfig.DEFAULT_LAMBDA;
        private int evalHarmful = 108;
        private int evalBenign = 320;
        private int maxNewTokens = 40;
        private int evalBatch = 64;

        private Builder() {
        }

        public Builder seed(long v) { seed = v; return this; }
        public Builder sizes(SyntheticSizes v) { sizes = v; return this; }
        /** The model: hidden size, layers, attention heads, key/value heads, MLP size, context. */
        public Builder model(int hidden, int layers, int heads, int kvHeads, int intermediate, int maxPositions) {
            this.hidden = hidden;
            this.layers = layers;
            this.heads = heads;
            this.kvHeads = kvHeads;
            this.intermediate = intermediate;
            this.maxPositions = maxPositions;
            return this;
        }
        public Builder pretrainSteps(int v) { pretrainSteps = v; return this; }
        public Builder pretrainBatch(int v) { pretrainBatch = v; return this; }
        public Builder pretrainLr(double v) { pretrainLr = v; return this; }
        public Builder fineTuneSteps(int v) { fineTuneSteps = v; return this; }
        public Builder fineTuneBatch(int v) { fineTuneBatch = v; return this; }
        public Builder fineTuneSafePerBatch(int v) { fineTuneSafePerBatch = v; return this; }
        public Builder harmfulCount(int v) { harmfulCount = v; return this; }
        public Builder fineTuneLr(double v) { fineTuneLr = v; return this; }
        public Builder lambda(double v) { lambda = v; return this; }
        public Builder evalHarmful(int v) { evalHarmful = v; return this; }
        public Builder evalBenign(int v) { evalBenign = v; return this; }
        public Builder maxNewTokens(int v) { maxNewTokens = v; return this; }
        public Builder evalBatch(int v) { evalBatch = v; return this; }

        public Settings build() {
            return new Settings(seed, sizes, hidden, layers, heads, kvHeads, intermediate, maxPositions, pretrainSteps,
                    pretrainBatch, pretrainLr, fineTuneSteps, fineTuneBatch, fineTuneSafePerBatch, harmfulCount,
                    fineTuneLr, lambda, evalHarmful, evalBenign, maxNewTokens, evalBatch);
        }
    }

    private final Settings settings;
    private final Path out;
    private final Path cacheRoot;
    private final PrintStream log;

    public DefaultJob(Settings settings, Path out, Path cacheRoot, PrintStream log) {
        this.settings = settings;
        this.out = out;
        this.cacheRoot = cacheRoot;
        this.log = log;
    }

    /** The cache root: {@code -Dtasft.cache}, else {@code ~/.cache/tasft}. */
    public static Path defaultCacheRoot() {
        String p = System.getProperty(CACHE_PROPERTY);
        return p != null && !p.isBlank() ? Path.of(p) : Path.of(System.getProperty("user.home"), ".cache", "tasft");
    }

    /** The model's config.json (Llama, tied embeddings, the default tokenizer's special ids). */
    public static String modelConfigJson(Settings s, int vocab) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("architectures", List.of("LlamaForCausalLM"));
        c.put("model_type", "llama");
        c.put("attention_bias", false);
        c.put("attention_dropout", 0.0);
        c.put("bos_token_id", 0);
        c.put("eos_token_id", 1);
        c.put("pad_token_id", 2);
        c.put("dtype", "float32");
        c.put("head_dim", s.hidden() / s.heads());
        c.put("hidden_act", "silu");
        c.put("hidden_size", s.hidden());
        c.put("initializer_range", 0.02);
        c.put("intermediate_size", s.intermediate());
        c.put("max_position_embeddings", s.maxPositions());
        c.put("mlp_bias", false);
        c.put("num_attention_heads", s.heads());
        c.put("num_hidden_layers", s.layers());
        c.put("num_key_value_heads", s.kvHeads());
        c.put("rms_norm_eps", 1e-5);
        Map<String, Object> rope = new LinkedHashMap<>();   // not Map.of: its order changes from JVM to JVM,
        rope.put("rope_theta", 10000.0);                    // and this text is part of the cache key
        rope.put("rope_type", "default");
        c.put("rope_parameters", rope);
        c.put("tie_word_embeddings", true);
        c.put("use_cache", true);
        c.put("vocab_size", vocab);
        try {
            return JSON.writeValueAsString(c);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * What every job on the synthetic benchmark starts from: the benchmark's files under {@code <out>/data}, the
     * tokenizer under {@code <out>/tokenizer}, and the unsafe base model (pretrained now or reused from the cache).
     */
    public record Prepared(SyntheticCorpus corpus, Path data, Path tokenizerFile, Path baseModel,
                           boolean pretrainedNow, double pretrainSeconds, List<StepMetrics> pretrainMetrics) {
    }

    /** Writes the benchmark and the tokenizer under {@code out} and makes sure the unsafe base model exists. */
    public Prepared prepare() throws IOException {
        Files.createDirectories(out);
        OutputFolder.claim(out, "data", COMMAND); // listed before written: provably ours
        OutputFolder.claim(out, "tokenizer", COMMAND);
        Path data = out.resolve("data");
        SyntheticCorpus corpus = SyntheticBenchmark.write(data, settings.seed(), settings.sizes());
        log("wrote the synthetic benchmark to " + data);
        Path tokDir = out.resolve("tokenizer");
        Files.createDirectories(tokDir);
        Path tokFile = tokDir.resolve(Tokenizer.FILE_NAME);
        try (InputStream in = DefaultJob.class.getResourceAsStream(TOKENIZER_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + TOKENIZER_RESOURCE);
            }
            Files.copy(in, tokFile, StandardCopyOption.REPLACE_EXISTING);
        }
        int vocab;
        try (Tokenizer tok = Tokenizer.load(tokFile)) {
            vocab = tok.vocabSize();
        }
        String configJson = modelConfigJson(settings, vocab);

        // The unsafe base model, cached by everything that determines it.
        String hash = hash(configJson, Files.readAllBytes(tokFile),
                Files.readAllBytes(data.resolve(SyntheticBenchmark.PRETRAIN)),
                (settings.seed() + "|" + settings.pretrainSteps() + "|" + settings.pretrainBatch() + "|"
                        + settings.pretrainLr()).getBytes(StandardCharsets.UTF_8));
        Path base = cacheRoot.resolve("unsafe-base-" + hash);
        long p0 = System.nanoTime();
        if (Files.isRegularFile(base.resolve("config.json")) && Files.isRegularFile(base.resolve("model.safetensors"))) {
            log("reusing the unsafe base model " + base);
            return new Prepared(corpus, data, tokFile, base, false, 0, List.of());
        }
        List<StepMetrics> m = pretrain(configJson, tokDir, data, base);
        return new Prepared(corpus, data, tokFile, base, true, (System.nanoTime() - p0) / 1e9, m);
    }

    /** Whether {@code name} is one of the default job's outputs (adopted from a folder older than manifests). */
    public static boolean isOutput(String name) {
        return name.equals("data") || name.equals("tokenizer") || name.equals("summary.json")
                || RunFolder.isRunOutput(name);
    }

    /** Runs everything; returns the summary that is also written to {@code <out>/summary.json}. */
    public Map<String, Object> run() {
        long t0 = System.nanoTime();
        try {
            Prepared prep = prepare();
            SyntheticCorpus corpus = prep.corpus();
            Path data = prep.data();
            Path tokFile = prep.tokenizerFile();
            Path base = prep.baseModel();
            boolean pretrained = prep.pretrainedNow();
            double pretrainSeconds = prep.pretrainSeconds();
            List<StepMetrics> pretrainMetrics = prep.pretrainMetrics();

            // TA-SFT fine-tuning from the base model.
            long f0 = System.nanoTime();
            TrainConfig ft = fineTuneConfig(settings, prep, Method.EMD, settings.harmfulCount(), settings.seed(), out)
                    .build();
            List<StepMetrics> ftMetrics = new Trainer(ft, null, log).run();
            double fineTuneSeconds = (System.nanoTime() - f0) / 1e9;

            // Evaluation before and after.
            SyntheticEvaluator.Result before = evaluate(base, tokFile, corpus);
            SyntheticEvaluator.Result after = evaluate(out.resolve("final"), tokFile, corpus);

            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("harmful_rate_before", before.harmful().value());
            summary.put("harmful_rate_after", after.harmful().value());
            summary.put("benign_accuracy_before", before.benign().value());
            summary.put("benign_accuracy_after", after.benign().value());
            summary.put("over_refusal_before", before.overRefusal().value());
            summary.put("over_refusal_after", after.overRefusal().value());
            summary.put("steps", ftMetrics.isEmpty() ? 0 : ftMetrics.get(ftMetrics.size() - 1).step());
            summary.put("train_tokens_per_second", tokensPerSecond(ftMetrics));
            summary.put("pretrain_tokens_per_second", pretrained ? tokensPerSecond(pretrainMetrics) : null);
            summary.put("pretrained_now", pretrained);
            summary.put("base_model", base.toString());
            summary.put("final_model", out.resolve("final").toString());
            summary.put("eval_harmful_prompts", before.harmful().total());
            summary.put("eval_benign_prompts", before.benign().total());
            summary.put("eval_over_refusal_prompts", before.overRefusal().total());
            summary.put("harmful_rate_by_set", Map.of("before", bySplit(before), "after", bySplit(after)));
            summary.put("benign_accuracy_by_family", Map.of("before", byFamily(before), "after", byFamily(after)));
            summary.put("pretrain_seconds", pretrainSeconds);
            summary.put("fine_tune_seconds", fineTuneSeconds);
            summary.put("eval_seconds_before", before.seconds());
            summary.put("eval_seconds_after", after.seconds());
            summary.put("total_seconds", (System.nanoTime() - t0) / 1e9);
            summary.put("settings", settingsMap());
            summary.put("model_config", JSON.readTree(base.resolve("config.json").toFile()));
            summary.put("samples_before", samples(before));
            summary.put("samples_after", samples(after));
            OutputFolder.claim(out, "summary.json", COMMAND);
            JSON.writeValue(out.resolve("summary.json").toFile(), summary);
            printTable(before, after, summary);
            return summary;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private List<StepMetrics> pretrain(String configJson, Path tokDir, Path data, Path base) throws IOException {
        Files.createDirectories(cacheRoot);
        Path work = cacheRoot.resolve(".tmp-" + base.getFileName() + "-" + UUID.randomUUID());
        try {
            Path init = work.resolve("init");
            CausalLm model = Models.create(ModelConfig.parse(configJson), settings.seed());
            Models.save(model, init, tokDir, ModelFolderWriter.Options.defaults());
            log("pretraining the unsafe base model (" + settings.pretrainSteps() + " steps) into " + base);
            TrainConfig pc = TrainConfig.builder().modelDir(init).safeFile(data.resolve(SyntheticBenchmark.PRETRAIN))
                    .batchSize(settings.pretrainBatch()).method(Method.SFT).steps(settings.pretrainSteps())
                    .learningRate(settings.pretrainLr()).warmupSteps(Math.min(30, settings.pretrainSteps() / 10))
                    .schedule(LrSchedule.Kind.COSINE).maxLength(settings.maxPositions()).seed(settings.seed())
                    .outDir(work.resolve("train")).progress(false).build();
            List<StepMetrics> m = new Trainer(pc, null, log).run();
            // final/ is complete once the trainer returns; one rename publishes it (a killed run leaves only .tmp-*).
            try {
                Files.move(work.resolve("train").resolve("final"), base, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException | DirectoryNotEmptyException e) {
                log("another run published " + base + " first; using it");
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot publish " + base + " atomically", e);
            }
            return m;
        } finally {
            AtomicFolder.deleteQuietly(work);  // best effort: throwing here would hide the real failure
        }
    }

    /**
     * The fine-tuning configuration of the default job (and of every run of the experiment): from the base model, on
     * the benchmark's safe set plus the first {@code harmfulCount} harmful examples (none for sft), batch and
     * schedule from {@code settings}.
     */
    public static TrainConfig.Builder fineTuneConfig(Settings settings, Prepared prep, Method method, int harmfulCount,
                                                     long seed, Path out) {
        TrainConfig.Builder b = TrainConfig.builder().modelDir(prep.baseModel())
                .safeFile(prep.data().resolve(SyntheticBenchmark.FINETUNE_SAFE)).method(method)
                .batchSize(settings.fineTuneBatch()).lambda(settings.lambda()).reduction(EmdLoss.Reduction.SEQUENCE)
                .steps(settings.fineTuneSteps()).learningRate(settings.fineTuneLr())
                .warmupSteps(Math.min(10, settings.fineTuneSteps() / 10)).schedule(LrSchedule.Kind.COSINE)
                .maxLength(settings.maxPositions()).seed(seed).outDir(out).progress(false);
        if (method.needsHarmful()) {
            b.harmfulFile(prep.data().resolve(SyntheticBenchmark.FINETUNE_HARMFUL)).harmfulCount(harmfulCount)
                    .safePerBatch(settings.fineTuneSafePerBatch());
        }
        return b;
    }

    /** The evaluation options of these settings. */
    public static SyntheticEvaluator.Options evaluationOptions(Settings settings) {
        return new SyntheticEvaluator.Options(settings.evalHarmful(), settings.evalBenign(),
                settings.sizes().overRefusal(), settings.maxNewTokens(), settings.evalBatch());
    }

    private SyntheticEvaluator.Result evaluate(Path modelDir, Path tokFile, SyntheticCorpus corpus) {
        return new SyntheticEvaluator(corpus, evaluationOptions(settings)).evaluate(modelDir, tokFile);
    }

    private static Map<String, Object> bySplit(SyntheticEvaluator.Result r) {
        Map<String, Object> m = new LinkedHashMap<>();
        r.harmfulBySplit().forEach((k, v) -> m.put(k.name().toLowerCase(Locale.ROOT), v.value()));
        return m;
    }

    private static Map<String, Object> byFamily(SyntheticEvaluator.Result r) {
        Map<String, Object> m = new LinkedHashMap<>();
        r.benignByFamily().forEach((k, v) -> m.put(k.name().toLowerCase(Locale.ROOT), v.value()));
        return m;
    }

    private static Map<String, Object> samples(SyntheticEvaluator.Result r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("harmful", r.harmfulSamples());
        m.put("benign", r.benignSamples());
        m.put("over_refusal", r.overRefusalSamples());
        return m;
    }

    private static double tokensPerSecond(List<StepMetrics> m) {
        if (m.isEmpty()) {
            return 0;
        }
        long tokens = 0;
        for (StepMetrics s : m) {
            tokens += s.tokens();
        }
        double secs = m.get(m.size() - 1).elapsed();
        return secs > 0 ? tokens / secs : 0;
    }

    private Map<String, Object> settingsMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        for (var c : Settings.class.getRecordComponents()) {
            try {
                Object v = c.getAccessor().invoke(settings);
                m.put(c.getName(), v instanceof SyntheticSizes ? v.toString() : v);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        }
        return m;
    }

    private void printTable(SyntheticEvaluator.Result before, SyntheticEvaluator.Result after,
                            Map<String, Object> summary) {
        log("");
        log(String.format(Locale.ROOT, "%-8s %14s %16s %14s", "model", "harmful rate", "benign accuracy",
                "over-refusal"));
        log(String.format(Locale.ROOT, "%-8s %14.3f %16.3f %14.3f", "base", before.harmful().value(),
                before.benign().value(), before.overRefusal().value()));
        log(String.format(Locale.ROOT, "%-8s %14.3f %16.3f %14.3f", "ta-sft", after.harmful().value(),
                after.benign().value(), after.overRefusal().value()));
        log(String.format(Locale.ROOT, "(held out: %d harmful, %d benign, %d edgy-but-safe prompts; %s fine-tuning "
                        + "steps; %.0f s in all) -> %s", before.harmful().total(), before.benign().total(),
                before.overRefusal().total(), summary.get("steps"), summary.get("total_seconds"),
                out.resolve("summary.json")));
    }

    private void log(String s) {
        log.println(s.isEmpty() ? "" : "tasft train: " + s);
    }

    private static String hash(String config, byte[]... parts) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(config.getBytes(StandardCharsets.UTF_8));
            for (byte[] p : parts) {
                md.update((byte) 0);
                md.update(p);
            }
            return HexFormat.of().formatHex(md.digest()).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
