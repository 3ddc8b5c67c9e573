package org.tasft.experiment;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

import org.tasft.checkpoint.AtomicFolder;
import org.tasft.checkpoint.OutputFolder;
import org.tasft.benchmark.BenchmarkSettings;
import org.tasft.benchmark.BenchmarkSetup;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;
import org.tasft.synthetic.PushedAwayAnalysis;
import org.tasft.model.Placement;
import org.tasft.synthetic.SyntheticEvaluator;
import org.tasft.tokenizer.Tokenizer;
import org.tasft.train.Method;
import org.tasft.train.TrainCheckpoint;
import org.tasft.train.TrainConfig;
import org.tasft.train.Trainer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * {@code tasft experiment}: fine-tunes the default job's unsafe base model with every method of an
 * {@link ExperimentPlan}, evaluates each model on the synthetic benchmark's held-out sets
 * ({@link SyntheticEvaluator}) and writes {@code results.csv}, {@code results.md} and plots ({@link ExperimentReport}).
 *
 * <p>Each run's result is stored in {@code runs/<id>/result.json} as soon as it exists; running the same command
 * again skips finished runs, so a stopped experiment continues. Model weights are deleted after evaluation unless
 * {@code keepModels}.
 */
public final class Experiment {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** The command an experiment's output folder is recorded under ({@link OutputFolder}). */
    public static final String COMMAND = "experiment";
    static final String RESULT_FILE = "result.json";
    static final String BASE_RESULT = "base-result.json";

    private final BenchmarkSettings settings;
    private final ExperimentPlan plan;
    private final Path out;
    private final Path cacheRoot;
    private final PrintStream log;
    private final boolean progress;
    private final boolean keepModels;
    /** Where fine-tuning and evaluation run (the cached base model is pretrained on the CPU, once). */
    private final Placement placement;

    public Experiment(BenchmarkSettings settings, ExperimentPlan plan, Path out, Path cacheRoot, PrintStream log,
                      boolean progress, boolean keepModels) {
        this(settings, plan, out, cacheRoot, log, progress, keepModels, Placement.CPU_FLOAT32);
    }

    public Experiment(BenchmarkSettings settings, ExperimentPlan plan, Path out, Path cacheRoot, PrintStream log,
                      boolean progress, boolean keepModels, Placement placement) {
        this.placement = placement;
        this.settings = settings;
        this.plan = plan;
        this.out = out;
        this.cacheRoot = cacheRoot;
        this.log = log;
        this.progress = progress;
        this.keepModels = keepModels;
    }

    /** Runs (or continues) the experiment and writes the report; returns every run's result, base model first. */
    public List<RunResult> run() {
        long t0 = System.nanoTime();
        try {
            Files.createDirectories(out);
            BenchmarkSetup.Prepared prep = new BenchmarkSetup(settings, out, cacheRoot, log, COMMAND).prepare();
            SyntheticEvaluator evaluator = new SyntheticEvaluator(prep.corpus(), BenchmarkSetup.evaluationOptions(settings));
            SyntheticEvaluator curveEvaluator = new SyntheticEvaluator(prep.corpus(), new SyntheticEvaluator.Options(
                    settings.evalHarmful(), Math.min(settings.evalBenign(), 80), settings.sizes().overRefusal(),
                    settings.maxNewTokens(), settings.evalBatch()));

            List<RunResult> results = new ArrayList<>();
            Path baseFile = out.resolve(BASE_RESULT);
            RunResult base = read(baseFile);
            OutputFolder.claim(out, BASE_RESULT, COMMAND);
            OutputFolder.claim(out, "runs", COMMAND);
            if (base == null) {
                Evaluated e = evaluate(prep.baseModel(), prep, evaluator, true);
                base = RunResult.of(RunResult.BASE, 0, 0, null, e.result(), 0, List.of(), e.pushedAway());
                write(baseFile, base);
            }
            results.add(base);
            log(String.format(Locale.ROOT, "base model: harmful %.3f, degenerate %s, benign %.3f, over-refusal %.3f",
                    base.harmfulRate(), rate(base.harmfulDegenerate()), base.benignAccuracy(), base.overRefusal()));

            // Each method's weight: chosen on the validation split where it has several candidates.
            List<RunResult> validation = new ArrayList<>();
            List<WeightSelection.Choice> choices = new ArrayList<>();
            Map<Method, Double> chosen = chooseWeights(prep, base, validation, choices);

            List<ExperimentPlan.Run> runs = plan.runs(chosen);
            ProgressBarBuilder pb = new ProgressBarBuilder().setTaskName("experiment").setInitialMax(runs.size())
                    .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(1000).continuousUpdate()
                    .setConsumer(new ConsoleProgressBarConsumer(log));
            try (ProgressBar bar = progress ? pb.build() : null) {
                for (ExperimentPlan.Run run : runs) {
                    if (bar != null) {
                        bar.setExtraMessage(" " + run.id());
                    }
                    RunResult r = runOne(run, prep, evaluator, curveEvaluator, base);
                    results.add(r);
                    if (bar != null) {
                        bar.step();
                    }
                    logRun(run, r);
                }
            }
            ExperimentReport report = new ExperimentReport(plan, results, validation, choices);
            report.write(out);
            log(String.format(Locale.ROOT, "%d runs in %.0f s -> %s, %s, %s, %s", validation.size() + runs.size(),
                    (System.nanoTime() - t0) / 1e9, out.resolve(ExperimentReport.MARKDOWN),
                    out.resolve(ExperimentReport.CSV), out.resolve(ExperimentReport.HARMFUL_PLOT),
                    out.resolve(ExperimentReport.DEGENERATE_PLOT)));
            return results;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Runs the plan's validation runs (each evaluated on the validation split) and chooses every swept method's weight
     * from them ({@link WeightSelection}); methods with one candidate get it. Fills {@code validation} and
     * {@code choices}.
     */
    private Map<Method, Double> chooseWeights(BenchmarkSetup.Prepared prep, RunResult base, List<RunResult> validation,
                                              List<WeightSelection.Choice> choices) throws IOException {
        Map<Method, Double> chosen = new EnumMap<>(Method.class);
        plan.weights().forEach((m, w) -> {
            if (w.size() == 1) {
                chosen.put(m, w.get(0));
            }
        });
        List<ExperimentPlan.Run> runs = plan.validationRuns();
        if (runs.isEmpty()) {
            return chosen;
        }
        log("choosing each method's weight on the validation split (" + runs.size() + " runs at "
                + plan.sweepCount() + " harmful examples): " + WeightSelection.RULE);
        SyntheticEvaluator onValidation = new SyntheticEvaluator(prep.corpus(),
                BenchmarkSetup.validationOptions(settings), SyntheticEvaluator.Prompts.VALIDATION);
        for (ExperimentPlan.Run run : runs) {
            RunResult r = runOne(run, prep, onValidation, null, base);
            validation.add(r);
            logRun(run, r);
        }
        double sftBenign = validation.stream().filter(r -> r.trainedWith(Method.SFT)).findFirst().orElseThrow()
                .benignAccuracy();
        for (Method m : plan.methods()) {
            if (plan.sweeps(m)) {
                WeightSelection.Choice c = WeightSelection.choose(m, validation, sftBenign);
                choices.add(c);
                chosen.put(m, c.weight());
                log(m.id() + ": " + c.describe());
            }
        }
        return chosen;
    }

    /** A model's evaluation and, where measured, where its probability on the harmful answers goes. */
    private record Evaluated(SyntheticEvaluator.Result result, PushedAwayAnalysis pushedAway) {
    }

    /**
     * Loads a model folder once and evaluates it; with {@code analyse}, also measures {@link PushedAwayAnalysis} on
     * the held-out harmful prompts' compliant answers.
     */
    private Evaluated evaluate(Path modelDir, BenchmarkSetup.Prepared prep, SyntheticEvaluator evaluator,
                               boolean analyse) {
        CausalLm model = Models.load(modelDir, placement);
        try (Tokenizer tok = Tokenizer.load(prep.tokenizerFile())) {
            SyntheticEvaluator.Result r = evaluator.evaluate(model, tok);
            return new Evaluated(r, analyse ? PushedAwayAnalysis.measure(model, tok,
                    PushedAwayAnalysis.heldOutHarmfulAnswers(prep.corpus(), Integer.MAX_VALUE)) : null);
        }
    }

    private void logRun(ExperimentPlan.Run run, RunResult r) {
        log(String.format(Locale.ROOT, "%-16s harmful %.3f  degenerate %s  benign %.3f  over-refusal "
                        + "%.3f  (%.0f s)", run.id(), r.harmfulRate(), rate(r.harmfulDegenerate()),
                r.benignAccuracy(), r.overRefusal(), r.trainSeconds()));
    }

    private RunResult runOne(ExperimentPlan.Run run, BenchmarkSetup.Prepared prep, SyntheticEvaluator evaluator,
                             SyntheticEvaluator curveEvaluator, RunResult base) throws IOException {
        Path dir = out.resolve("runs").resolve(run.id());
        RunResult done = read(dir.resolve(RESULT_FILE));
        if (done != null && Objects.equals(done.weight(), run.weight())) {
            return done;  // finished before (a result at another weight, e.g. chosen by an older version, is redone)
        }
        AtomicFolder.deleteQuietly(dir);  // a run stopped half way starts over
        Files.createDirectories(dir.getParent());
        long every = run.curve() ? Math.max(1, plan.steps() / plan.curvePoints()) : 0;
        BenchmarkSettings s = settings.withSteps(settings.pretrainSteps(), plan.steps());
        TrainConfig.Builder b = BenchmarkSetup.fineTuneConfig(s, prep, run.method(), run.harmfulCount(), run.seed(), dir)
                .checkpointEvery(every).placement(placement);
        if ("lambda".equals(ExperimentPlan.weightName(run.method()))) {
            b.lambda(run.weight());
        } else if ("beta".equals(ExperimentPlan.weightName(run.method()))) {
            b.beta(run.weight());
        }
        TrainConfig config = b.build();
        long t0 = System.nanoTime();
        new Trainer(config, null, log).run();
        double trainSeconds = (System.nanoTime() - t0) / 1e9;

        List<RunResult.CurvePoint> curve = new ArrayList<>();
        if (run.curve()) {
            curve.add(new RunResult.CurvePoint(0, base.harmfulRate(), base.benignAccuracy(), base.overRefusal()));
            for (long step = every; step <= plan.steps(); step += every) {
                Path ckpt = TrainCheckpoint.folder(dir, step);
                if (Files.isDirectory(ckpt)) {
                    curve.add(RunResult.point(step, curveEvaluator.evaluate(ckpt, prep.tokenizerFile(), placement)));
                }
            }
        }
        Evaluated e = evaluate(dir.resolve("final"), prep, evaluator, !run.validation());
        RunResult result = RunResult.of(run.method().id(), run.harmfulCount(), run.seed(), run.weight(), e.result(),
                trainSeconds, curve, e.pushedAway());
        if (!keepModels) {
            try (var list = Files.list(dir)) {
                for (Path p : list.toList()) {
                    if (Files.isDirectory(p)) {
                        AtomicFolder.deleteQuietly(p);
                    }
                }
            }
        }
        write(dir.resolve(RESULT_FILE), result);
        return result;
    }

    /** Whether {@code name} is one of an experiment folder's outputs (adopted from a folder older than manifests). */
    public static boolean isOutput(String name) {
        return List.of("data", "tokenizer", "runs", BASE_RESULT, ExperimentReport.CSV, ExperimentReport.MARKDOWN,
                ExperimentReport.HARMFUL_PLOT, ExperimentReport.DEGENERATE_PLOT, ExperimentReport.CURVE_PLOT)
                .contains(name);
    }

    static RunResult read(Path file) throws IOException {
        return Files.isRegularFile(file) ? JSON.readValue(file.toFile(), RunResult.class) : null;
    }

    private static void write(Path file, RunResult r) throws IOException {
        ExperimentReport.writeAtomically(file, JSON.writeValueAsString(r));
    }

    /** A recorded rate, or "–" for a result of a version that did not record it. */
    private static String rate(Double v) {
        return v == null ? "–" : String.format(Locale.ROOT, "%.3f", v);
    }

    private void log(String s) {
        log.println("tasft experiment: " + s);
    }
}
