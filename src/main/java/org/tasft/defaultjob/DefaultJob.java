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

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.tasft.checkpoint.AtomicFolder;
import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.generate.GenerationOptions;
import org.tasft.generate.Generator;
import org.tasft.loss.EmdLoss;
import org.tasft.model.CausalLm;
import org.tasft.model.ModelConfig;
import org.tasft.model.Models;
import org.tasft.synthetic.BenignTask;
import org.tasft.synthetic.ComplianceJudge;
import org.tasft.synthetic.HarmfulRequest;
import org.tasft.synthetic.SyntheticBenchmark;
import org.tasft.synthetic.SyntheticCorpus;
import org.tasft.synthetic.SyntheticSizes;
import org.tasft.tokenizer.PromptTemplate;
import org.tasft.tokenizer.Tokenizer;
import org.tasft.train.LrSchedule;
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

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Everything the job does, sized. */
    public record Settings(long seed, SyntheticSizes sizes, int hidden, int layers, int heads, int kvHeads,
                           int intermediate, int maxPositions, int pretrainSteps, int pretrainBatch,
                           double pretrainLr, int fineTuneSteps, int fineTuneBatch, int fineTuneSafePerBatch,
                           int harmfulCount, double fineTuneLr, double lambda, int evalHarmful, int evalBenign,
                           int maxNewTokens, int evalBatch) {
        /** The default job: sized for about 10 minutes on two CPU cores. */
        public static Settings defaults() {
            return new Settings(1, SyntheticSizes.DEFAULT, 128, 4, 4, 2, 384, 128, 1200, 32, 2e-3, 150, 16, 14, 100,
                    3e-4, 0.5, 108, 320, 40, 64);
        }

        public Settings withSteps(int pretrain, int fineTune) {
            return new Settings(seed, sizes, hidden, layers, heads, kvHeads, intermediate, maxPositions, pretrain,
                    pretrainBatch, pretrainLr, fineTune, fineTuneBatch, fineTuneSafePerBatch, harmfulCount,
                    fineTuneLr, lambda, evalHarmful, evalBenign, maxNewTokens, evalBatch);
        }
    }

    /** One model's evaluation. */
    public record Evaluation(double harmfulRate, double benignAccuracy, int harmfulPrompts, int benignPrompts,
                             double seconds, List<String> harmfulSamples, List<String> benignSamples) {
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

    /** Runs everything; returns the summary that is also written to {@code <out>/summary.json}. */
    public Map<String, Object> run() {
        long t0 = System.nanoTime();
        try {
            Files.createDirectories(out);
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
            double pretrainSeconds = 0;
            boolean pretrained = false;
            List<StepMetrics> pretrainMetrics = List.of();
            long p0 = System.nanoTime();
            if (Files.isRegularFile(base.resolve("config.json")) && Files.isRegularFile(base.resolve("model.safetensors"))) {
                log("reusing the unsafe base model " + base);
            } else {
                pretrainMetrics = pretrain(configJson, tokDir, data, base);
                pretrained = true;
                pretrainSeconds = (System.nanoTime() - p0) / 1e9;
            }

            // TA-SFT fine-tuning from the base model.
            long f0 = System.nanoTime();
            TrainConfig ft = TrainConfig.builder().modelDir(base).safeFile(data.resolve(SyntheticBenchmark.FINETUNE_SAFE))
                    .harmfulFile(data.resolve(SyntheticBenchmark.FINETUNE_HARMFUL)).harmfulCount(settings.harmfulCount())
                    .batchSize(settings.fineTuneBatch()).safePerBatch(settings.fineTuneSafePerBatch()).method("emd")
                    .lambda(settings.lambda()).reduction(EmdLoss.Reduction.SEQUENCE).steps(settings.fineTuneSteps())
                    .learningRate(settings.fineTuneLr()).warmupSteps(Math.min(10, settings.fineTuneSteps() / 10))
                    .schedule(LrSchedule.Kind.COSINE).maxLength(settings.maxPositions()).seed(settings.seed())
                    .outDir(out).progress(false).build();
            List<StepMetrics> ftMetrics = new Trainer(ft, null, log).run();
            double fineTuneSeconds = (System.nanoTime() - f0) / 1e9;

            // Evaluation before and after.
            Evaluation before = evaluate(base, tokFile, corpus);
            log(String.format(Locale.ROOT, "base:  harmful %.3f, benign %.3f", before.harmfulRate(),
                    before.benignAccuracy()));
            Evaluation after = evaluate(out.resolve("final"), tokFile, corpus);
            log(String.format(Locale.ROOT, "final: harmful %.3f, benign %.3f", after.harmfulRate(),
                    after.benignAccuracy()));

            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("harmful_rate_before", before.harmfulRate());
            summary.put("harmful_rate_after", after.harmfulRate());
            summary.put("benign_accuracy_before", before.benignAccuracy());
            summary.put("benign_accuracy_after", after.benignAccuracy());
            summary.put("steps", ftMetrics.isEmpty() ? 0 : ftMetrics.get(ftMetrics.size() - 1).step());
            summary.put("train_tokens_per_second", tokensPerSecond(ftMetrics));
            summary.put("pretrain_tokens_per_second", pretrained ? tokensPerSecond(pretrainMetrics) : null);
            summary.put("pretrained_now", pretrained);
            summary.put("base_model", base.toString());
            summary.put("final_model", out.resolve("final").toString());
            summary.put("eval_harmful_prompts", before.harmfulPrompts());
            summary.put("eval_benign_prompts", before.benignPrompts());
            summary.put("pretrain_seconds", pretrainSeconds);
            summary.put("fine_tune_seconds", fineTuneSeconds);
            summary.put("eval_seconds_before", before.seconds());
            summary.put("eval_seconds_after", after.seconds());
            summary.put("total_seconds", (System.nanoTime() - t0) / 1e9);
            summary.put("settings", settingsMap());
            summary.put("model_config", JSON.readTree(configJson));
            summary.put("samples_before", Map.of("harmful", before.harmfulSamples(), "benign", before.benignSamples()));
            summary.put("samples_after", Map.of("harmful", after.harmfulSamples(), "benign", after.benignSamples()));
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
                    .batchSize(settings.pretrainBatch()).method("sft").steps(settings.pretrainSteps())
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

    private Evaluation evaluate(Path modelDir, Path tokFile, SyntheticCorpus corpus) {
        long t0 = System.nanoTime();
        CausalLm model = Models.load(modelDir);
        model.module().train(false);
        List<HarmfulRequest> harmful = corpus.evalHarmful();
        harmful = harmful.subList(0, Math.min(settings.evalHarmful(), harmful.size()));
        List<BenignTask> benign = corpus.evalBenign();
        benign = benign.subList(0, Math.min(settings.evalBenign(), benign.size()));
        try (Tokenizer tok = Tokenizer.load(tokFile)) {
            List<String> hOut = generate(model, tok, harmful.stream().map(HarmfulRequest::prompt).toList());
            List<String> bOut = generate(model, tok, benign.stream().map(BenignTask::instruction).toList());
            int h = 0;
            for (String s : hOut) {
                h += ComplianceJudge.isHarmful(s) ? 1 : 0;
            }
            int b = 0;
            for (int i = 0; i < benign.size(); i++) {
                b += benign.get(i).isCorrect(bOut.get(i)) ? 1 : 0;
            }
            List<String> hs = new ArrayList<>();
            for (int i = 0; i < Math.min(3, hOut.size()); i++) {
                hs.add(harmful.get(i).prompt() + " => " + hOut.get(i));
            }
            List<String> bs = new ArrayList<>();
            for (int i = 0; i < Math.min(3, bOut.size()); i++) {
                bs.add(benign.get(i).instruction() + " => " + bOut.get(i));
            }
            return new Evaluation(harmful.isEmpty() ? 0 : (double) h / harmful.size(),
                    benign.isEmpty() ? 0 : (double) b / benign.size(), harmful.size(), benign.size(),
                    (System.nanoTime() - t0) / 1e9, hs, bs);
        }
    }

    private List<String> generate(CausalLm model, Tokenizer tok, List<String> instructions) {
        List<String> out = new ArrayList<>();
        // Stops at config.json's eos_token_id (the bare tokenizer.json names no EOS of its own).
        GenerationOptions opts = GenerationOptions.defaults().maxNewTokens(settings.maxNewTokens());
        Generator gen = new Generator(model);
        for (int i = 0; i < instructions.size(); i += settings.evalBatch()) {
            List<long[]> prompts = new ArrayList<>();
            for (String s : instructions.subList(i, Math.min(instructions.size(), i + settings.evalBatch()))) {
                prompts.add(tok.encode(PromptTemplate.ALPACA.format(s)));
            }
            try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
                for (Generator.Generation r : gen.generate(prompts, opts)) {
                    out.add(tok.decode(r.tokens(), true));
                }
            }
        }
        return out;
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

    private void printTable(Evaluation before, Evaluation after, Map<String, Object> summary) {
        log("");
        log(String.format(Locale.ROOT, "%-8s %14s %16s", "model", "harmful rate", "benign accuracy"));
        log(String.format(Locale.ROOT, "%-8s %14.3f %16.3f", "base", before.harmfulRate(), before.benignAccuracy()));
        log(String.format(Locale.ROOT, "%-8s %14.3f %16.3f", "ta-sft", after.harmfulRate(), after.benignAccuracy()));
        log(String.format(Locale.ROOT, "(%d harmful, %d benign prompts; %s fine-tuning steps; %.0f s in all) -> %s",
                before.harmfulPrompts(), before.benignPrompts(), summary.get("steps"), summary.get("total_seconds"),
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
