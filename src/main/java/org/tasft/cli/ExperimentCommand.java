package org.tasft.cli;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import org.tasft.benchmark.BenchmarkSettings;
import org.tasft.benchmark.BenchmarkSetup;
import org.tasft.checkpoint.OutputFolder;
import org.tasft.experiment.Experiment;
import org.tasft.experiment.ExperimentPlan;
import org.tasft.train.Method;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tasft experiment}: the paper's Tables 2 and 3 in miniature on the built-in synthetic benchmark. */
@Command(name = "experiment",
        description = {"Fine-tune the default job's unsafe base model with SFT, STL, NLCL, KTO, TA-SFT (emd) and the "
                + "emd-cap variant at several numbers of harmful examples and seeds, each method at its own weight "
                + "(chosen first on a validation split: the lowest complied-or-degenerate rate among the weights that "
                + "keep benign accuracy within 2 points of SFT's), evaluate every model on the held-out sets "
                + "(harmful, refused and degenerate answers per set, benign accuracy, over-refusal) and write "
                + "results.md, results.csv, validation.csv and plots under --out. Running it again continues a "
                + "stopped experiment (finished runs are kept)."},
        footer = {"", "Examples:",
            "  tasft experiment --quick                       # 2 counts x 2 seeds, fewer weights",
            "  tasft experiment                               # counts 10,30,50,100 x seeds 1,2,3, 4 weights each",
            "  tasft experiment --methods emd,nlcl --counts 10,100 --seeds 1 --out runs/small"})
final class ExperimentCommand implements Callable<Integer> {
    @Mixin
    HelpOption help;

    @Option(names = "--quick", description = "Counts 10,100 and seeds 1,2 (unless given).")
    boolean quick;

    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default: runs/experiment, "
            + "runs/experiment-quick with --quick).")
    Path out;

    @Option(names = "--methods", split = ",", paramLabel = "M", converter = MethodConverters.Listed.class,
            description = "Methods (default: sft,stl,nlcl,kto,emd,emd-cap).")
    List<Method> methods;

    @Option(names = "--counts", split = ",", paramLabel = "N", description = "Numbers of harmful examples "
            + "(default: 10,30,50,100; the benchmark has 100).")
    List<Integer> counts;

    @Option(names = "--seeds", split = ",", paramLabel = "S", description = "Fine-tuning seeds (default: 1,2,3).")
    List<Long> seeds;

    @Option(names = "--steps", paramLabel = "N", description = "Fine-tuning steps of each run (default: the default "
            + "job's).")
    Integer steps;

    @Option(names = "--lambda", paramLabel = "X", description = "One weight of the harmful term for emd, nlcl and "
            + "ga (default: each method's own, chosen on the validation split from 0.1,0.25,0.5,1 for emd and nlcl, "
            + "0.05,0.1,0.25,0.5 for ga; 0.1,0.5 and 0.05,0.25 with --quick).")
    Double lambda;

    @Option(names = "--beta", paramLabel = "X", description = "One beta for kto (default: chosen on the validation "
            + "split from 0.03,0.1,0.3,1; 0.1,1 with --quick).")
    Double beta;

    @Option(names = "--sweep-count", paramLabel = "N", description = "Harmful examples of the validation runs that "
            + "choose the weights (default: ${DEFAULT-VALUE}).", defaultValue = "30")
    int sweepCount;

    @Option(names = "--curve-points", paramLabel = "N", description = "Checkpoints evaluated along the first seed's "
            + "largest-count runs for the over-refusal curve (default: 6, 4 with --quick; 0: none).")
    Integer curvePoints;

    @Option(names = "--cache", paramLabel = "DIR", description = "Cache of the unsafe base model (default: "
            + "~/.cache/tasft or -Dtasft.cache).")
    Path cache;

    @Option(names = "--keep-models", description = "Keep every run's final/ model (default: deleted after evaluation).")
    boolean keepModels;

    @Mixin
    ProgressOption progress;

    @Mixin
    DeviceOptions deviceOptions;

    @Override
    public Integer call() {
        org.tasft.model.Placement placement = deviceOptions.placement(); // a device it cannot have fails first
        BenchmarkSettings settings = BenchmarkSettings.defaults();
        int n = steps != null ? steps : settings.fineTuneSteps();
        ExperimentPlan preset = quick ? ExperimentPlan.quick(n) : ExperimentPlan.full(n);
        ExperimentPlan plan;
        try {
            if (lambda != null && !Double.isFinite(lambda)) {
                throw new UsageException("--lambda must be a finite number, got " + lambda);
            }
            if (beta != null && !(Double.isFinite(beta) && beta > 0)) {
                throw new UsageException("--beta must be a finite number > 0, got " + beta);
            }
            Map<Method, List<Double>> weights = new EnumMap<>(quick ? ExperimentPlan.QUICK_GRID : ExperimentPlan.FULL_GRID);
            if (lambda != null) {
                for (Method m : List.of(Method.EMD, Method.EMD_CAP, Method.NLCL, Method.GA)) {
                    weights.put(m, List.of(lambda));
                }
            }
            if (beta != null) {
                weights.put(Method.KTO, List.of(beta));
            }
            plan = new ExperimentPlan(methods != null ? methods : preset.methods(),
                    counts != null ? counts : preset.harmfulCounts(), seeds != null ? seeds : preset.seeds(), n,
                    curvePoints != null ? curvePoints : preset.curvePoints(), weights, sweepCount);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        int available = settings.sizes().fineTuneHarmful();
        if (plan.harmfulCounts().get(plan.harmfulCounts().size() - 1) > available) {
            throw new UsageException("--counts: the benchmark has " + available + " harmful examples");
        }
        if (sweepCount > available) {
            throw new UsageException("--sweep-count: the benchmark has " + available + " harmful examples");
        }
        Path dir = out != null ? out : Path.of("runs", quick ? "experiment-quick" : "experiment");
        OutputPaths.requireWritableFolder("--out", dir); // a file there, or a folder one cannot write to
        Path cacheRoot = cache != null ? cache : BenchmarkSetup.defaultCacheRoot();
        // The folder is locked for the whole experiment; its earlier runs are kept (a stopped experiment continues).
        try (OutputFolder folder = OutputFolder.open(dir, "--out", Experiment.COMMAND, Experiment::isOutput,
                message -> System.err.println("tasft experiment: warning: " + message))) {
            new Experiment(settings, plan, dir, cacheRoot, System.err, progress.show(), keepModels, placement).run();
        }
        return 0;
    }
}
