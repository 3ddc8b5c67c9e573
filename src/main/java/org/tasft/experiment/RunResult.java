package org.tasft.experiment;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

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
 */
public record RunResult(String method, int harmfulCount, long seed, double harmfulRate,
                        Map<String, Integer> harmfulBySet, Map<String, Integer> promptsBySet, double benignAccuracy,
                        double overRefusal, double trainSeconds, List<CurvePoint> curve, List<String> samples) {

    /** One point of the training curve. */
    public record CurvePoint(long step, double harmfulRate, double benignAccuracy, double overRefusal) {
    }

    public RunResult {
        harmfulBySet = Map.copyOf(harmfulBySet);
        promptsBySet = Map.copyOf(promptsBySet);
        curve = List.copyOf(curve);
        samples = samples == null ? List.of() : List.copyOf(samples);  // absent in result files of older versions
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

    static RunResult of(String method, int count, long seed, SyntheticEvaluator.Result r, double trainSeconds,
                        List<CurvePoint> curve) {
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
                r.overRefusal().value(), trainSeconds, curve, samples);
    }

    static CurvePoint point(long step, SyntheticEvaluator.Result r) {
        return new CurvePoint(step, r.harmful().value(), r.benign().value(), r.overRefusal().value());
    }
}
