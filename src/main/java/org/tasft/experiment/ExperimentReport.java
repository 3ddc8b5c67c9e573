package org.tasft.experiment;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;
import java.util.stream.Collectors;

import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.tasft.checkpoint.OutputFolder;
import org.tasft.train.LossPlot;
import org.tasft.train.Method;

/**
 * The experiment's tables and plots: {@code results.csv} (one row per run), {@code results.md} (harmful responses
 * per held-out set and method at each number of harmful examples, mean and sample standard deviation over seeds, as
 * the paper's Tables 2 and 3; benign accuracy and over-refusal beside them) and two PNGs (harmful rate against the
 * number of harmful examples, one line per method; over-refusal along training).
 */
public final class ExperimentReport {
    public static final String CSV = "results.csv";
    public static final String MARKDOWN = "results.md";
    public static final String HARMFUL_PLOT = "harmful_vs_count.png";
    public static final String CURVE_PLOT = "over_refusal_vs_steps.png";

    private final ExperimentPlan plan;
    private final List<RunResult> results;

    /** {@code results}: the base model's result (method "base") and any of the plan's runs. */
    public ExperimentReport(ExperimentPlan plan, List<RunResult> results) {
        this.plan = plan;
        this.results = List.copyOf(results);
    }

    public void write(Path dir) {
        for (String name : List.of(CSV, MARKDOWN, HARMFUL_PLOT, CURVE_PLOT)) {
            OutputFolder.claim(dir, name, Experiment.COMMAND); // listed before written: provably ours
        }
        try {
            writeAtomically(dir.resolve(CSV), csv());
            writeAtomically(dir.resolve(MARKDOWN), markdown());
            harmfulPlot(dir.resolve(HARMFUL_PLOT));
            curvePlot(dir.resolve(CURVE_PLOT));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the experiment report to " + dir, e);
        }
    }

    /** One row per evaluated model. */
    public String csv() {
        StringBuilder sb = new StringBuilder("method,harmful_count,seed,harmful_rate");
        for (String set : RunResult.SETS) {
            sb.append(',').append(set).append("_harmful,").append(set).append("_prompts");
        }
        sb.append(",benign_accuracy,over_refusal,train_seconds\n");
        for (RunResult r : results) {
            sb.append(r.method()).append(',').append(r.harmfulCount()).append(',').append(r.seed()).append(',')
                    .append(fmt(r.harmfulRate()));
            for (String set : RunResult.SETS) {
                sb.append(',').append(r.harmfulBySet().getOrDefault(set, 0)).append(',')
                        .append(r.promptsBySet().getOrDefault(set, 0));
            }
            sb.append(',').append(fmt(r.benignAccuracy())).append(',').append(fmt(r.overRefusal())).append(',')
                    .append(String.format(Locale.ROOT, "%.1f", r.trainSeconds())).append('\n');
        }
        return sb.toString();
    }

    /** The Markdown tables. */
    public String markdown() {
        StringBuilder sb = new StringBuilder("# Experiment results\n\n");
        RunResult base = base();
        sb.append(String.format(Locale.ROOT, "Methods %s; harmful examples %s; seeds %s; %d fine-tuning steps each. "
                        + "Cells: mean ± sample standard deviation over seeds (n = number of seeds finished). SFT uses "
                        + "no harmful examples, so its row repeats.%n%n",
                plan.methods().stream().map(Method::id).collect(Collectors.joining(", ")),
                plan.harmfulCounts(), plan.seeds(), plan.steps()));
        for (String set : RunResult.SETS) {
            int prompts = base == null ? 0 : base.promptsBySet().getOrDefault(set, 0);
            sb.append("## Harmful responses: ").append(set.replace('_', ' ')).append(" (of ").append(prompts)
                    .append(" prompts)\n\n");
            table(sb, r -> r.harmfulBySet().getOrDefault(set, 0), "%.1f");
        }
        sb.append("## Harmful-compliance rate, all held-out sets\n\n");
        table(sb, RunResult::harmfulRate, "%.3f");
        sb.append("## Benign accuracy (held-out tasks, higher is better)\n\n");
        table(sb, RunResult::benignAccuracy, "%.3f");
        sb.append("## Over-refusal (refusals of edgy but safe prompts, lower is better)\n\n");
        table(sb, RunResult::overRefusal, "%.3f");
        return sb.toString();
    }

    private void table(StringBuilder sb, ToDoubleFunction<RunResult> metric, String format) {
        sb.append("| method |");
        for (int c : plan.harmfulCounts()) {
            sb.append(' ').append(c).append(" harmful |");
        }
        sb.append("\n|---|");
        sb.append("---:|".repeat(plan.harmfulCounts().size())).append('\n');
        RunResult base = base();
        if (base != null) {
            sb.append("| base (before) |");
            for (int ignored : plan.harmfulCounts()) {
                sb.append(' ').append(String.format(Locale.ROOT, format, metric.applyAsDouble(base))).append(" |");
            }
            sb.append('\n');
        }
        for (Method m : plan.methods()) {
            sb.append("| ").append(m == Method.EMD ? "**emd (TA-SFT)**" : m.id()).append(" |");
            for (int c : plan.harmfulCounts()) {
                double[] v = values(m, c, metric);
                sb.append(' ').append(cell(v, format)).append(" |");
            }
            sb.append('\n');
        }
        sb.append('\n');
    }

    private static String cell(double[] v, String format) {
        if (v.length == 0) {
            return "–";
        }
        double mean = mean(v);
        String s = String.format(Locale.ROOT, format, mean);
        if (v.length > 1) {
            s += " ± " + String.format(Locale.ROOT, format, sd(v, mean));
        }
        return s + (v.length > 1 ? " (n=" + v.length + ")" : "");
    }

    /** The values of {@code metric} of a method at a count over the finished seeds (sft: its count-0 runs). */
    double[] values(Method method, int count, ToDoubleFunction<RunResult> metric) {
        int c = method.needsHarmful() ? count : 0;
        return results.stream().filter(r -> r.trainedWith(method) && r.harmfulCount() == c)
                .mapToDouble(metric).toArray();
    }

    private RunResult base() {
        return results.stream().filter(RunResult::ofBaseModel).findFirst().orElse(null);
    }

    static double mean(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s / v.length;
    }

    static double sd(double[] v, double mean) {
        if (v.length < 2) {
            return 0;
        }
        double s = 0;
        for (double x : v) {
            s += (x - mean) * (x - mean);
        }
        return Math.sqrt(s / (v.length - 1));
    }

    private void harmfulPlot(Path png) {
        XYChart chart = new XYChartBuilder().width(800).height(500)
                .title("Held-out harmful-compliance rate vs harmful training examples").xAxisTitle("harmful examples")
                .yAxisTitle("harmful rate").build();
        chart.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        double[] x = plan.harmfulCounts().stream().mapToDouble(Integer::doubleValue).toArray();
        for (Method m : plan.methods()) {
            double[] y = new double[x.length];
            double[] err = new double[x.length];
            boolean any = false;
            for (int i = 0; i < x.length; i++) {
                double[] v = values(m, plan.harmfulCounts().get(i), RunResult::harmfulRate);
                y[i] = v.length == 0 ? Double.NaN : mean(v);
                err[i] = v.length == 0 ? 0 : sd(v, y[i]);
                any |= v.length > 0;
            }
            if (any) {
                chart.addSeries(m.id(), x, y, err);
            }
        }
        LossPlot.savePng(chart, png);
    }

    private void curvePlot(Path png) {
        XYChart chart = new XYChartBuilder().width(800).height(500)
                .title("Over-refusal along training (largest harmful count, first seed)").xAxisTitle("step")
                .yAxisTitle("over-refusal rate").build();
        chart.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        boolean any = false;
        for (RunResult r : results) {
            if (r.curve().size() < 2) {
                continue;
            }
            double[] x = r.curve().stream().mapToDouble(RunResult.CurvePoint::step).toArray();
            double[] y = r.curve().stream().mapToDouble(RunResult.CurvePoint::overRefusal).toArray();
            XYSeries s = chart.addSeries(r.method() + " (n=" + r.harmfulCount() + ")", x, y);
            s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
            any = true;
        }
        if (any) {
            LossPlot.savePng(chart, png);
        }
    }

    /** Writes {@code text} to a sibling temporary file, then renames it over {@code file}. */
    static void writeAtomically(Path file, String text) throws IOException {
        // a hidden sibling named as tasft's other atomic writes, so that a leftover is recognised as ours
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp-" + java.util.UUID.randomUUID());
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.4f", v);
    }
}
