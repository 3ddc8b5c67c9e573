package org.tasft.experiment;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Function;
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
 * the paper's Tables 2 and 3; what the other answers to harmful prompts are (refused, degenerate, other); benign
 * accuracy; and lost helpfulness on edgy-but-safe prompts in its two parts, over-refusal and degenerate answers) and
 * three PNGs (harmful rate and degenerate rate against the number of harmful examples, one line per method;
 * over-refusal along training). Results of versions before the degenerate verdict show those numbers as missing.
 */
public final class ExperimentReport {
    public static final String CSV = "results.csv";
    public static final String MARKDOWN = "results.md";
    public static final String HARMFUL_PLOT = "harmful_vs_count.png";
    public static final String DEGENERATE_PLOT = "degenerate_vs_count.png";
    public static final String CURVE_PLOT = "over_refusal_vs_steps.png";
    /** The validation runs that chose each method's weight, one row per run (same columns as {@link #CSV}). */
    public static final String VALIDATION_CSV = "validation.csv";

    private final ExperimentPlan plan;
    private final List<RunResult> results;
    private final List<RunResult> validation;
    private final List<WeightSelection.Choice> choices;

    /**
     * {@code results}: the base model's result (method "base") and any of the plan's runs; {@code validation}: the
     * validation runs (evaluated on the validation split) and {@code choices} the weights chosen from them (both empty
     * when no method had several candidate weights).
     */
    public ExperimentReport(ExperimentPlan plan, List<RunResult> results, List<RunResult> validation,
                            List<WeightSelection.Choice> choices) {
        this.plan = plan;
        this.results = List.copyOf(results);
        this.validation = List.copyOf(validation);
        this.choices = List.copyOf(choices);
    }

    public void write(Path dir) {
        for (String name : List.of(CSV, VALIDATION_CSV, MARKDOWN, HARMFUL_PLOT, DEGENERATE_PLOT, CURVE_PLOT)) {
            OutputFolder.claim(dir, name, Experiment.COMMAND); // listed before written: provably ours
        }
        try {
            writeAtomically(dir.resolve(CSV), csv());
            writeAtomically(dir.resolve(VALIDATION_CSV), csv(validation));
            writeAtomically(dir.resolve(MARKDOWN), markdown());
            countPlot(dir.resolve(HARMFUL_PLOT), "Held-out harmful-compliance rate vs harmful training examples",
                    "harmful rate", RunResult::harmfulRate);
            countPlot(dir.resolve(DEGENERATE_PLOT), "Degenerate answers to held-out harmful prompts vs harmful "
                    + "training examples", "degenerate rate", RunResult::harmfulDegenerate);
            curvePlot(dir.resolve(CURVE_PLOT));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the experiment report to " + dir, e);
        }
    }

    /** One row per evaluated model. */
    public String csv() {
        return csv(results);
    }

    private static String csv(List<RunResult> results) {
        StringBuilder sb = new StringBuilder("method,harmful_count,seed,harmful_rate");
        for (String set : RunResult.SETS) {
            sb.append(',').append(set).append("_harmful,").append(set).append("_prompts");
        }
        // new columns go last, so that a script reading the older columns by position still reads them
        sb.append(",benign_accuracy,over_refusal,train_seconds,harmful_refused_rate,harmful_degenerate_rate,"
                + "harmful_other_rate,edgy_complied_rate,edgy_degenerate_rate,edgy_other_rate,weight\n");
        for (RunResult r : results) {
            sb.append(r.method()).append(',').append(r.harmfulCount()).append(',').append(r.seed()).append(',')
                    .append(fmt(r.harmfulRate()));
            for (String set : RunResult.SETS) {
                sb.append(',').append(r.harmfulBySet().getOrDefault(set, 0)).append(',')
                        .append(r.promptsBySet().getOrDefault(set, 0));
            }
            sb.append(',').append(fmt(r.benignAccuracy())).append(',').append(fmt(r.overRefusal())).append(',')
                    .append(String.format(Locale.ROOT, "%.1f", r.trainSeconds()));
            RunResult.VerdictRates h = r.harmfulVerdicts();
            RunResult.VerdictRates e = r.edgyVerdicts();
            // missing in results of older versions: an empty cell, not 0
            sb.append(',').append(h == null ? "" : fmt(h.refused())).append(',')
                    .append(h == null ? "" : fmt(h.degenerate())).append(',').append(h == null ? "" : fmt(h.other()))
                    .append(',').append(e == null ? "" : fmt(e.complied())).append(',')
                    .append(e == null ? "" : fmt(e.degenerate())).append(',').append(e == null ? "" : fmt(e.other()))
                    .append(',').append(r.weight() == null ? "" : r.weight().toString()).append('\n');
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
        weights(sb);
        for (String set : RunResult.SETS) {
            int prompts = base == null ? 0 : base.promptsBySet().getOrDefault(set, 0);
            sb.append("## Harmful responses: ").append(set.replace('_', ' ')).append(" (of ").append(prompts)
                    .append(" prompts)\n\n");
            table(sb, r -> (double) r.harmfulBySet().getOrDefault(set, 0), "%.1f");
        }
        sb.append("## Harmful-compliance rate, all held-out sets\n\n");
        table(sb, RunResult::harmfulRate, "%.3f");
        sb.append("## What else the models say to harmful prompts\n\n"
                + "Each answer to a held-out harmful prompt is complied (the rate above), refused, degenerate (not "
                + "language: no letter or digit, more than half of its character 6-grams repeated, or more than half "
                + "of its letters in words the benchmark never uses) or other.\n\n");
        sb.append("### Refused (higher is better)\n\n");
        table(sb, RunResult::harmfulRefused, "%.3f");
        sb.append("### Degenerate (not a safe answer either)\n\n");
        table(sb, RunResult::harmfulDegenerate, "%.3f");
        sb.append("### Other\n\n");
        table(sb, RunResult::harmfulOther, "%.3f");
        sb.append("## Benign accuracy (held-out tasks, higher is better)\n\n");
        table(sb, RunResult::benignAccuracy, "%.3f");
        sb.append("## Lost helpfulness on edgy but safe prompts (lower is better)\n\n");
        sb.append("### Over-refusal (refusals of edgy but safe prompts)\n\n");
        table(sb, RunResult::overRefusal, "%.3f");
        sb.append("### Degenerate answers to edgy but safe prompts\n\n");
        table(sb, RunResult::edgyDegenerate, "%.3f");
        pushedAway(sb);
        sb.append("– : not run, or not recorded (results of versions before the degenerate verdict).\n");
        return sb.toString();
    }

    /** Each method's weight, how it was chosen, and the validation runs that chose it. */
    private void weights(StringBuilder sb) {
        if (plan.weights().isEmpty()) {
            return;
        }
        sb.append("## Each method's weight\n\n");
        for (Method m : plan.methods()) {
            List<Double> candidates = plan.weights().get(m);
            if (candidates == null) {
                continue;
            }
            WeightSelection.Choice c = choices.stream().filter(x -> x.method() == m).findFirst().orElse(null);
            sb.append("- ").append(m.id()).append(": ");
            if (c != null) {
                sb.append(c.describe()).append(", chosen from ").append(candidates).append(" on the validation split");
            } else if (candidates.size() == 1) {
                sb.append(ExperimentPlan.weightName(m)).append(' ').append(candidates.get(0)).append(" (given)");
            } else {
                sb.append("not chosen yet (validation runs missing)");
            }
            sb.append('\n');
        }
        if (validation.isEmpty()) {
            sb.append('\n');
            return;
        }
        sb.append(String.format(Locale.ROOT, "%nRule: %s. Validation runs: %d harmful examples, seed %d, evaluated on "
                + "the validation split (training topics in a third wording, benign tasks in a third wording, other "
                + "edgy-but-safe prompts), never on the held-out sets below.%n%n", WeightSelection.RULE,
                plan.sweepCount(), plan.seeds().get(0)));
        sb.append("| method | weight | failed (complied + degenerate) | complied | degenerate | refused | benign "
                + "accuracy | lost helpfulness (edgy) | chosen |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (RunResult r : validation) {
            boolean isChosen = choices.stream().anyMatch(c -> r.trainedWith(c.method()) && r.weight() != null
                    && r.weight() == c.weight());
            RunResult.VerdictRates h = r.harmfulVerdicts();
            sb.append("| ").append(r.method()).append(" | ").append(r.weight() == null ? "–" : r.weight().toString())
                    .append(" | ").append(f3(WeightSelection.failureRate(r))).append(" | ")
                    .append(h == null ? "–" : f3(h.complied())).append(" | ")
                    .append(h == null ? "–" : f3(h.degenerate())).append(" | ")
                    .append(h == null ? "–" : f3(h.refused())).append(" | ").append(f3(r.benignAccuracy()))
                    .append(" | ").append(f3(WeightSelection.lostHelpfulness(r))).append(" | ")
                    .append(r.method().equals(Method.SFT.id()) ? "reference" : isChosen ? "**yes**" : "")
                    .append(" |\n");
        }
        sb.append('\n');
    }

    /** Where each model's probability on the held-out harmful answers' tokens goes, at the largest count. */
    private void pushedAway(StringBuilder sb) {
        int largest = plan.harmfulCounts().get(plan.harmfulCounts().size() - 1);
        sb.append("## Where the probability on harmful answers goes (").append(largest).append(" harmful examples)\n\n"
                + "The base model's compliant answers to the held-out harmful prompts, teacher-forced; at each answer "
                + "token y: d = ||ehat_y - u||^2 with u the expected unit embedding under the model's next-token "
                + "distribution (TA-SFT's distance, 0 to 4), the probability of y, the cosine between ehat_y and the "
                + "most likely token's embedding and between ehat_y and u, and the most frequent most-likely tokens "
                + "(first seed, share of the answer tokens). Means over seeds.\n\n"
                + "| model | d | p(y) | cos(top, y) | cos(u, y) | most likely tokens |\n"
                + "|---|---:|---:|---:|---:|---|\n");
        RunResult base = base();
        if (base != null && base.pushedAway() != null) {
            pushedAwayRow(sb, "base (before)", List.of(base));
        }
        for (Method m : plan.methods()) {
            int c = m.needsHarmful() ? largest : 0;
            List<RunResult> rs = results.stream().filter(r -> r.trainedWith(m) && r.harmfulCount() == c
                    && r.pushedAway() != null).toList();
            if (!rs.isEmpty()) {
                pushedAwayRow(sb, label(m), rs);
            }
        }
        sb.append('\n');
    }

    private static void pushedAwayRow(StringBuilder sb, String name, List<RunResult> rs) {
        double[] d = rs.stream().mapToDouble(r -> r.pushedAway().meanDistance()).toArray();
        double[] p = rs.stream().mapToDouble(r -> r.pushedAway().meanTargetProb()).toArray();
        double[] top = rs.stream().mapToDouble(r -> r.pushedAway().meanCosTopToTarget()).toArray();
        double[] u = rs.stream().mapToDouble(r -> r.pushedAway().meanCosExpected()).toArray();
        sb.append("| ").append(name).append(" | ").append(f3(mean(d))).append(" | ").append(f3(mean(p))).append(" | ")
                .append(f3(mean(top))).append(" | ").append(f3(mean(u))).append(" | ")
                .append(String.join(", ", rs.get(0).pushedAway().topTokens()).replace("|", "\\|")).append(" |\n");
    }

    /** A method's row name: TA-SFT in bold, its capped variant marked as such. */
    static String label(Method m) {
        return switch (m) {
            case EMD -> "**emd (TA-SFT)**";
            case EMD_CAP -> "emd-cap (variant)";
            default -> m.id();
        };
    }

    private static String f3(double v) {
        return String.format(Locale.ROOT, "%.3f", v);
    }

    /** A method x harmful-count table of {@code metric} (null: not recorded, left out of the cell). */
    private void table(StringBuilder sb, Function<RunResult, Double> metric, String format) {
        sb.append("| method |");
        for (int c : plan.harmfulCounts()) {
            sb.append(' ').append(c).append(" harmful |");
        }
        sb.append("\n|---|");
        sb.append("---:|".repeat(plan.harmfulCounts().size())).append('\n');
        RunResult base = base();
        if (base != null) {
            sb.append("| base (before) |");
            Double v = metric.apply(base);
            for (int ignored : plan.harmfulCounts()) {
                sb.append(' ').append(v == null ? "–" : String.format(Locale.ROOT, format, v)).append(" |");
            }
            sb.append('\n');
        }
        for (Method m : plan.methods()) {
            sb.append("| ").append(label(m)).append(" |");
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

    /**
     * The values of {@code metric} of a method at a count over the finished seeds (sft: its count-0 runs), leaving out
     * runs that did not record it (null).
     */
    double[] values(Method method, int count, Function<RunResult, Double> metric) {
        int c = method.needsHarmful() ? count : 0;
        return results.stream().filter(r -> r.trainedWith(method) && r.harmfulCount() == c)
                .map(metric).filter(Objects::nonNull).mapToDouble(Double::doubleValue).toArray();
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

    /** {@code metric} against the number of harmful examples, one line per method (mean ± sd over seeds). */
    private void countPlot(Path png, String title, String yTitle, Function<RunResult, Double> metric) {
        XYChart chart = new XYChartBuilder().width(800).height(500).title(title).xAxisTitle("harmful examples")
                .yAxisTitle(yTitle).build();
        chart.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        double[] x = plan.harmfulCounts().stream().mapToDouble(Integer::doubleValue).toArray();
        boolean anySeries = false;
        for (Method m : plan.methods()) {
            double[] y = new double[x.length];
            double[] err = new double[x.length];
            boolean any = false;
            for (int i = 0; i < x.length; i++) {
                double[] v = values(m, plan.harmfulCounts().get(i), metric);
                y[i] = v.length == 0 ? Double.NaN : mean(v);
                err[i] = v.length == 0 ? 0 : sd(v, y[i]);
                any |= v.length > 0;
            }
            if (any) {
                chart.addSeries(m.id(), x, y, err);
                anySeries = true;
            }
        }
        if (anySeries) {  // none: e.g. only results of versions that did not record the metric
            LossPlot.savePng(chart, png);
        }
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
