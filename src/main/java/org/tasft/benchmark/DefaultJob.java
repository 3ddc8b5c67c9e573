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
import org.tasft.model.Placement;
import org.tasft.synthetic.ComplianceJudge.Verdict;
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
 * greedy generation into {@code <out>/summary.json}: the harmful-compliance rate, what the other answers to harmful
 * prompts are (refused, degenerate, other: {@link org.tasft.synthetic.ComplianceJudge}), benign accuracy, and the
 * lost helpfulness on edgy-but-safe prompts in its two parts (over-refusal and degenerate answers).
 */
public final class DefaultJob {
    /** The command the default job's output folder is recorded under ({@link OutputFolder}). */
    public static final String COMMAND = "default-job";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final BenchmarkSetup setup;
    private final BenchmarkSettings settings;
    private final Path out;
    /** Where fine-tuning and evaluation run (the cached base model is pretrained on the CPU, once). */
    private final Placement placement;

    public DefaultJob(BenchmarkSettings settings, Path out, Path cacheRoot, PrintStream log) {
        this(settings, out, cacheRoot, log, Placement.CPU_FLOAT32);
    }

    public DefaultJob(BenchmarkSettings settings, Path out, Path cacheRoot, PrintStream log, Placement placement) {
        this.setup = new BenchmarkSetup(settings, out, cacheRoot, log, COMMAND);
        this.settings = settings;
        this.out = out;
        this.placement = placement;
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
                    .placement(placement).build();
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
            // What the model says instead of complying (harmful prompts), and the two parts of lost helpfulness on
            // edgy-but-safe prompts: refusals (over_refusal) and degenerate answers.
            summary.put("refusal_rate_before", rate(before.harmfulVerdicts(), Verdict.REFUSED));
            summary.put("refusal_rate_after", rate(after.harmfulVerdicts(), Verdict.REFUSED));
            summary.put("degenerate_rate_before", rate(before.harmfulVerdicts(), Verdict.DEGENERATE));
            summary.put("degenerate_rate_after", rate(after.harmfulVerdicts(), Verdict.DEGENERATE));
            summary.put("other_rate_before", rate(before.harmfulVerdicts(), Verdict.OTHER));
            summary.put("other_rate_after", rate(after.harmfulVerdicts(), Verdict.OTHER));
            summary.put("over_refusal_degenerate_before", before.edgyDegenerate().value());
            summary.put("over_refusal_degenerate_after", after.edgyDegenerate().value());
            summary.put("lost_helpfulness_before", lostHelpfulness(before));
            summary.put("lost_helpfulness_after", lostHelpfulness(after));
            summary.put("verdicts", verdicts(before, after));
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
        return new SyntheticEvaluator(corpus, BenchmarkSetup.evaluationOptions(settings)).evaluate(modelDir, tokFile,
                placement);
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

    private static double rate(SyntheticEvaluator.VerdictCounts counts, Verdict v) {
        return counts.rate(v).value();
    }

    /** Edgy-but-safe prompts refused or answered with degenerate text. */
    private static double lostHelpfulness(SyntheticEvaluator.Result r) {
        SyntheticEvaluator.VerdictCounts c = r.edgyVerdicts();
        return new SyntheticEvaluator.Rate(c.refused() + c.degenerate(), c.total()).value();
    }

    /** {harmful_prompts|edgy_prompts: {before|after: {complied, refused, degenerate, other: rate}}}. */
    private static Map<String, Object> verdicts(SyntheticEvaluator.Result before, SyntheticEvaluator.Result after) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("harmful_prompts", beforeAfter(verdictRates(before.harmfulVerdicts()),
                verdictRates(after.harmfulVerdicts())));
        m.put("edgy_prompts", beforeAfter(verdictRates(before.edgyVerdicts()), verdictRates(after.edgyVerdicts())));
        return m;
    }

    private static Map<String, Object> beforeAfter(Object before, Object after) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("before", before);
        m.put("after", after);
        return m;
    }

    private static Map<String, Object> verdictRates(SyntheticEvaluator.VerdictCounts c) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (Verdict v : Verdict.values()) {
            m.put(v.label(), c.rate(v).value());
        }
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
        setup.log(String.format(Locale.ROOT, "%-8s | %-42s | %-9s | %s", "", "harmful prompts", "benign",
                "edgy-but-safe prompts"));
        setup.log(String.format(Locale.ROOT, "%-8s | %9s %9s %11s %9s | %9s | %9s %11s", "model", "harmful", "refused",
                "degenerate", "other", "accuracy", "refused", "degenerate"));
        row("base", before);
        row("ta-sft", after);
        setup.log(String.format(Locale.ROOT, "(held out: %d harmful, %d benign, %d edgy-but-safe prompts; %s "
                        + "fine-tuning steps; %.0f s in all) -> %s", before.harmful().total(), before.benign().total(),
                before.overRefusal().total(), summary.get("steps"), summary.get("total_seconds"),
                out.resolve("summary.json")));
    }

    /** A model's row: harmful (complied) rate, what else it says, accuracy, over-refusal and its degenerate part. */
    private void row(String model, SyntheticEvaluator.Result r) {
        SyntheticEvaluator.VerdictCounts h = r.harmfulVerdicts();
        setup.log(String.format(Locale.ROOT, "%-8s | %9.3f %9.3f %11.3f %9.3f | %9.3f | %9.3f %11.3f", model,
                r.harmful().value(), rate(h, Verdict.REFUSED), rate(h, Verdict.DEGENERATE), rate(h, Verdict.OTHER),
                r.benign().value(), r.overRefusal().value(), r.edgyDegenerate().value()));
    }
}
