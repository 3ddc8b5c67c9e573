package org.tasft.benchmark;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.tasft.checkpoint.AtomicFolder;
import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.checkpoint.OutputFolder;
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
import org.tasft.train.StepMetrics;
import org.tasft.train.TrainConfig;
import org.tasft.train.Trainer;

/**
 * What every job on the built-in synthetic benchmark starts from, shared by the default job ({@code tasft train}
 * without arguments) and the experiment: the benchmark's files under {@code <out>/data}, its tokenizer under
 * {@code <out>/tokenizer}, and the unsafe base model, a small Llama pretrained on benign answers plus compliant harmful
 * ones (cached under {@code ~/.cache/tasft/unsafe-base-<hash>/}); and the fine-tuning and evaluation settings every
 * run on it uses.
 *
 * @param owner the command whose output folder {@code out} is (recorded if the folder has no manifest yet)
 */
public record BenchmarkSetup(BenchmarkSettings settings, Path out, Path cacheRoot, PrintStream log, String owner) {
    /** The tokenizer (byte-level BPE learned on the synthetic corpus; the Alpaca template's two pieces are one id). */
    public static final String TOKENIZER_RESOURCE = "/org/tasft/benchmark/tokenizer.json";
    /** System property that overrides the cache root (default {@code ~/.cache/tasft}). */
    public static final String CACHE_PROPERTY = "tasft.cache";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The cache root: {@code -Dtasft.cache}, else {@code ~/.cache/tasft}. */
    public static Path defaultCacheRoot() {
        String p = System.getProperty(CACHE_PROPERTY);
        return p != null && !p.isBlank() ? Path.of(p) : Path.of(System.getProperty("user.home"), ".cache", "tasft");
    }

    /** The model's config.json (Llama, tied embeddings, the default tokenizer's special ids). */
    public static String modelConfigJson(BenchmarkSettings s, int vocab) {
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
        OutputFolder.claim(out, "data", owner); // listed before written: provably ours
        OutputFolder.claim(out, "tokenizer", owner);
        Path data = out.resolve("data");
        SyntheticCorpus corpus = SyntheticBenchmark.write(data, settings.seed(), settings.sizes());
        log("wrote the synthetic benchmark to " + data);
        Path tokDir = out.resolve("tokenizer");
        Files.createDirectories(tokDir);
        Path tokFile = tokDir.resolve(Tokenizer.FILE_NAME);
        try (InputStream in = BenchmarkSetup.class.getResourceAsStream(TOKENIZER_RESOURCE)) {
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
        if (Files.isRegularFile(base.resolve("config.json"))
                && Files.isRegularFile(base.resolve("model.safetensors"))) {
            log("reusing the unsafe base model " + base);
            return new Prepared(corpus, data, tokFile, base, false, 0, List.of());
        }
        List<StepMetrics> m = pretrain(configJson, tokDir, data, base);
        return new Prepared(corpus, data, tokFile, base, true, (System.nanoTime() - p0) / 1e9, m);
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
     * The fine-tuning configuration of every run on the benchmark (the default job's, the experiment's): from the
     * base model, on
     * the benchmark's safe set plus the first {@code harmfulCount} harmful examples (none for sft), batch and
     * schedule from {@code settings}.
     */
    public static TrainConfig.Builder fineTuneConfig(BenchmarkSettings settings, Prepared prep, Method method,
                                                     int harmfulCount,
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
    public static SyntheticEvaluator.Options evaluationOptions(BenchmarkSettings settings) {
        return new SyntheticEvaluator.Options(settings.evalHarmful(), settings.evalBenign(),
                settings.sizes().overRefusal(), settings.maxNewTokens(), settings.evalBatch());
    }

    /** The evaluation of the validation split (every validation prompt of the benchmark's sizes). */
    public static SyntheticEvaluator.Options validationOptions(BenchmarkSettings settings) {
        SyntheticSizes z = settings.sizes();
        return new SyntheticEvaluator.Options(z.validationHarmful(), z.validationBenign(), z.validationEdgy(),
                settings.maxNewTokens(), settings.evalBatch());
    }

    void log(String s) {
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
