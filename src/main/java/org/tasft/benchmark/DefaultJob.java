package org.tasft.benchmark;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.tasft.checkpoint.OutputFolder;
import org.tasft.synthetic.SyntheticCorpus;
import org.tasft.synthetic.SyntheticEvaluator;
import org.tasft.synthetic.SyntheticSizes;
import org.tasft.train.Method;
import org.tasft.train.RunFolder;
import org.tasft.train.StepMetrics;
import org.tasft.train.TrainConfig;
import org.tasft.train.Trainer;

/**
 * The built-in job of {@code tasft train} without arguments, offline: the benchmark and its unsafe base model
 * ({@link BenchmarkSetup}), TA-SFT (emd) on the safe set plus a few harmful examples, and both models evaluated by
 * greedy generation (harmful-compliance rate, benign accuracy, over-refusal) into {@code <out>/summary.json}.
 */
public final class DefaultJob {
    /** The command the default job's output folder is recorded under ({@link OutputFolder}). */
    public static final String COMMAND = "default-job";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final BenchmarkSetup setup;
    private final BenchmarkSettings settings;
    private final Path out;

    public DefaultJob(BenchmarkSettings settings, Path out, Path cacheRoot, PrintStream log) {
        this.setup = new BenchmarkSetup(settings, out, cacheRoot, log, COMMAND);
        this.settings = settings;
        this.out = out;
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
            BenchmarkSetup.Prepared prep = setup.prepare();
            SyntheticCorpus corpus = prep.corpus();
            Path data = prep.data();
            Path tokFile = prep.tokenizerFile();
            Path base = prep.baseModel();
            boolean pretrained = prep.pretrainedNow();
            double pretrainSeconds = prep.pretrainSeconds();
            List<StepMetrics> pretrainMetrics = prep.pretrainMetrics();

            // TA-SFT fine-tuning from the base model.
            long f0 = System.nanoTime();
            TrainConfig ft = BenchmarkSetup.fineTuneConfig(settings, prep, Method.EMD, settings.harmfulCount(),
                            settings.seed(), out)
                    .build();
            List<StepMetrics> ftMetrics = new Trainer(ft, null, setup.log()).run();
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

    private SyntheticEvaluator.Result evaluate(Path modelDir, Path tokFile, SyntheticCorpus corpus) {
        return new SyntheticEvaluator(corpus, BenchmarkSetup.evaluationOptions(settings)).evaluate(modelDir, tokFile);
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
        for (var c : BenchmarkSettings.class.getRecordComponents()) {
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
        setup.log("");
        setup.log(String.format(Locale.ROOT, "%-8s %14s %16s %14s", "model", "harmful rate", "benign accuracy",
                "over-refusal"));
        setup.log(String.format(Locale.ROOT, "%-8s %14.3f %16.3f %14.3f", "base", before.harmful().value(),
                before.benign().value(), before.overRefusal().value()));
        setup.log(String.format(Locale.ROOT, "%-8s %14.3f %16.3f %14.3f", "ta-sft", after.harmful().value(),
                after.benign().value(), after.overRefusal().value()));
        setup.log(String.format(Locale.ROOT, "(held out: %d harmful, %d benign, %d edgy-but-safe prompts; %s "
                        + "fine-tuning "
                        + "steps; %.0f s in all) -> %s", before.harmful().total(), before.benign().total(),
                before.overRefusal().total(), summary.get("steps"), summary.get("total_seconds"),
                out.resolve("summary.json")));
    }
}
