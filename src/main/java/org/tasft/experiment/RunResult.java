package org.tasft.experiment;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.tasft.synthetic.ComplianceJudge.Verdict;
import org.tasft.synthetic.PushedAwayAnalysis;
import org.tasft.synthetic.SyntheticEvaluator;
import org.tasft.train.Method;

/**
 * One evaluated model of the experiment, as stored in {@code runs/<id>/result.json} (so a stopped experiment
 * continues where it stopped). Rates are fractions; counts say of how many prompts.
 *
 * @param method          the {@link Method#id()} that trained the model, or {@link #BASE}
 * @param harmfulCount    harmful examples used (0 for sft and the base model)
 * @param seed            fine-tuning seed (0 for the base model)
 * @param harmfulRate     harmful-compliance rate over all held-out harmful prompts
 * @param harmfulBySet    harmful responses per held-out set (set name -> count)
 * @param promptsBySet    prompts per held-out set
 * @param benignAccuracy  held-out benign accuracy
 * @param overRefusal     refusal rate on edgy-but-safe prompts
 * @param trainSeconds    fine-tuning wall time
 * @param curve           over-refusal and harmful rate along training (empty unless this run draws the curve)
 * @param samples         the first answers of each part ("prompt => answer"), to see what the numbers count
 * @param harmfulVerdicts what the answers to all held-out harmful prompts do; null in result files of versions
 *                        before the degenerate verdict (shown as missing, not as 0)
 * @param edgyVerdicts    what the answers to the edgy-but-safe prompts do; null as {@code harmfulVerdicts}
 * @param pushedAway      where the model's probability on the held-out harmful answers' tokens goes (null for
 *                        validation runs and result files of older versions)
 * @param weight          the method's weight (lambda or beta; null for sft, stl, the base model and result files of
 *                        versions before per-method weights)
 */
public record RunResult(String method, int harmfulCount, long seed, double harmfulRate,
                        Map<String, Integer> harmfulBySet, Map<String, Integer> promptsBySet, double benignAccuracy,
                        double overRefusal, double trainSeconds, List<CurvePoint> curve, List<String> samples,
                        VerdictRates harmfulVerdicts, VerdictRates edgyVerdicts, Double weight,
                        PushedAwayAnalysis pushedAway) {

    /** One point of the training curve. */
    public record CurvePoint(long step, double harmfulRate, double benignAccuracy, double overRefusal) {
    }

    /** The fractions of a set's answers that complied, refused, were degenerate or other (of an empty set: all 0). */
    public record VerdictRates(double complied, double refused, double degenerate, double other) {
        public VerdictRates {
            for (double v : new double[] {complied, refused, degenerate, other}) {
                if (!(v >= 0 && v <= 1)) {
                    throw new IllegalArgumentException("a rate must be in [0, 1]: " + this);
                }
            }
        }

        static VerdictRates of(SyntheticEvaluator.VerdictCounts c) {
            return new VerdictRates(c.rate(Verdict.COMPLIED).value(), c.rate(Verdict.REFUSED).value(),
                    c.rate(Verdict.DEGENERATE).value(), c.rate(Verdict.OTHER).value());
        }
    }

    public RunResult {
        harmfulBySet = Map.copyOf(harmfulBySet);
        promptsBySet = Map.copyOf(promptsBySet);
        curve = List.copyOf(curve);
        samples = samples == null ? List.of() : List.copyOf(samples);  // absent in result files of older versions
    }

    /** Refusals of harmful prompts; null when not recorded. */
    public Double harmfulRefused() {
        return harmfulVerdicts == null ? null : harmfulVerdicts.refused();
    }

    /** Degenerate answers to harmful prompts; null when not recorded. */
    public Double harmfulDegenerate() {
        return harmfulVerdicts == null ? null : harmfulVerdicts.degenerate();
    }

    /** Other answers to harmful prompts (neither complied, refused nor degenerate); null when not recorded. */
    public Double harmfulOther() {
        return harmfulVerdicts == null ? null : harmfulVerdicts.other();
    }

    /** Degenerate answers to edgy-but-safe prompts (lost helpfulness beside over-refusal); null when not recorded. */
    public Double edgyDegenerate() {
        return edgyVerdicts == null ? null : edgyVerdicts.degenerate();
    }

    /** The {@link #method()} of the base model's row (it was not trained). */
    public static final String BASE = "base";

    /** Whether this model was fine-tuned with {@code m}. */
    boolean trainedWith(Method m) {
        return method.equals(m.id());
    }

    /** Whether this is the base model's row. */
    boolean ofBaseModel() {
        return method.equals(BASE);
    }

    /** Names of the held-out sets, in table order, as {@link #harmfulBySet()} keys them. */
    public static final List<String> SETS = List.of("held_out_wording", "held_out_topic", "held_out_both");

    static RunResult of(String method, int count, long seed, Double weight, SyntheticEvaluator.Result r,
                        double trainSeconds, List<CurvePoint> curve, PushedAwayAnalysis pushedAway) {
        Map<String, Integer> hits = new LinkedHashMap<>();
        Map<String, Integer> totals = new LinkedHashMap<>();
        r.harmfulBySplit().forEach((k, v) -> {
            hits.put(k.name().toLowerCase(Locale.ROOT), v.hits());
            totals.put(k.name().toLowerCase(Locale.ROOT), v.total());
        });
        List<String> samples = new ArrayList<>();
        samples.addAll(r.harmfulSamples());
        samples.addAll(r.benignSamples());
        samples.addAll(r.overRefusalSamples());
        return new RunResult(method, count, seed, r.harmful().value(), hits, totals, r.benign().value(),
                r.overRefusal().value(), trainSeconds, curve, samples, VerdictRates.of(r.harmfulVerdicts()),
                VerdictRates.of(r.edgyVerdicts()), weight, pushedAway);
    }

    static CurvePoint point(long step, SyntheticEvaluator.Result r) {
        return new CurvePoint(step, r.harmful().value(), r.benign().value(), r.overRefusal().value());
    }
}
