package org.tasft.experiment;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.tasft.train.Method;

/**
 * What {@code tasft experiment} runs: the paper's Tables 2 and 3 in miniature. Every method is fine-tuned from the
 * same unsafe base model at every number of harmful examples and every seed; SFT does not use harmful examples, so it
 * runs once per seed (its row repeats across counts).
 *
 * <p>Each method runs at its own weight (emd's, nlcl's and ga's lambda, kto's beta), chosen before the reported runs
 * from {@code weights} on the validation split ({@link WeightSelection}): a method with one value is run at it, a
 * method with several is first fine-tuned at each with {@code sweepCount} harmful examples and the first seed, and
 * evaluated on the validation prompts (never on the reported held-out sets).
 *
 * @param methods          methods, in table order (sft, stl, nlcl, kto, emd; ga also allowed)
 * @param harmfulCounts    numbers of harmful (or, for stl, refusal) examples, ascending
 * @param seeds            fine-tuning seeds (data order, harmful pick, torch)
 * @param steps            fine-tuning steps of every run
 * @param curvePoints      checkpoints along training of the first seed's largest-count run, evaluated for the
 *                         over-refusal-vs-steps curve (0: none)
 * @param weights          the candidate weights of each weighted method (emd, nlcl, ga: lambda; kto: beta)
 * @param sweepCount       harmful examples of the validation runs that choose among several weights
 */
public record ExperimentPlan(List<Method> methods, List<Integer> harmfulCounts, List<Long> seeds, int steps,
                             int curvePoints, Map<Method, List<Double>> weights, int sweepCount) {
    /** The paper's methods in its table order, then the variant of TA-SFT that caps its distance (not the paper's). */
    public static final List<Method> DEFAULT_METHODS = List.of(Method.SFT, Method.STL, Method.NLCL, Method.KTO,
            Method.EMD, Method.EMD_CAP);
    /** The full run's grids: four weights per method, around each method's usual value. */
    public static final Map<Method, List<Double>> FULL_GRID = grid(List.of(0.1, 0.25, 0.5, 1.0),
            List.of(0.05, 0.1, 0.25, 0.5), List.of(0.03, 0.1, 0.3, 1.0));
    /** {@code --quick}'s grids: two weights per method, the ends of the full grid's usual range. */
    public static final Map<Method, List<Double>> QUICK_GRID = grid(List.of(0.1, 0.5), List.of(0.05, 0.25),
            List.of(0.1, 1.0));
    /** The harmful count of the validation runs (the middle of the default counts). */
    public static final int DEFAULT_SWEEP_COUNT = 30;

    public ExperimentPlan {
        methods = List.copyOf(new LinkedHashSet<>(methods));
        harmfulCounts = harmfulCounts.stream().distinct().sorted().toList();
        seeds = List.copyOf(new LinkedHashSet<>(seeds));
        if (methods.isEmpty() || harmfulCounts.isEmpty() || seeds.isEmpty()) {
            throw new IllegalArgumentException("--methods, --counts and --seeds need at least one value each");
        }
        for (int c : harmfulCounts) {
            if (c < 1) {
                throw new IllegalArgumentException("--counts must be >= 1, got " + c);
            }
        }
        if (steps < 1) {
            throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
        }
        if (curvePoints < 0) {
            throw new IllegalArgumentException("--curve-points must be >= 0, got " + curvePoints);
        }
        if (sweepCount < 1) {
            throw new IllegalArgumentException("the validation runs' harmful count must be >= 1, got " + sweepCount);
        }
        Map<Method, List<Double>> w = new EnumMap<>(Method.class);
        for (Method m : methods) {
            if (weightName(m) == null) {
                continue;
            }
            List<Double> values = weights.get(m);
            if (values == null || values.isEmpty()) {
                throw new IllegalArgumentException("no " + weightName(m) + " given for " + m.id());
            }
            for (double v : values) {
                if (!Double.isFinite(v) || (m == Method.KTO && v <= 0)) {
                    throw new IllegalArgumentException(m.id() + "'s " + weightName(m) + " must be a finite number"
                            + (m == Method.KTO ? " > 0" : "") + ", got " + v);
                }
            }
            w.put(m, values.stream().distinct().sorted().toList());
        }
        weights = Collections.unmodifiableMap(w);
    }

    /** The full run: the paper's 100/300/500/1000 harmful examples scaled by 1/10, three seeds, four weights each. */
    public static ExperimentPlan full(int steps) {
        return new ExperimentPlan(DEFAULT_METHODS, List.of(10, 30, 50, 100), List.of(1L, 2L, 3L), steps, 6, FULL_GRID,
                DEFAULT_SWEEP_COUNT);
    }

    /** {@code --quick}: two counts, two seeds, two weights each. */
    public static ExperimentPlan quick(int steps) {
        return new ExperimentPlan(DEFAULT_METHODS, List.of(10, 100), List.of(1L, 2L), steps, 4, QUICK_GRID,
                DEFAULT_SWEEP_COUNT);
    }

    /** One weight for every weighted method: lambda for emd, nlcl and ga, beta for kto (no validation runs). */
    public static Map<Method, List<Double>> fixedWeights(double lambda, double beta) {
        return grid(List.of(lambda), List.of(lambda), List.of(beta));
    }

    private static Map<Method, List<Double>> grid(List<Double> emdAndNlcl, List<Double> ga, List<Double> kto) {
        Map<Method, List<Double>> g = new EnumMap<>(Method.class);
        g.put(Method.EMD, emdAndNlcl);
        g.put(Method.EMD_CAP, emdAndNlcl);
        g.put(Method.NLCL, emdAndNlcl);
        g.put(Method.GA, ga);
        g.put(Method.KTO, kto);
        return Collections.unmodifiableMap(g);
    }

    /** The name of {@code m}'s weight ("lambda", "beta"), or null for a method without one (sft, stl). */
    public static String weightName(Method m) {
        return switch (m) {
            case EMD, EMD_CAP, NLCL, GA -> "lambda";
            case KTO -> "beta";
            default -> null;
        };
    }

    /** Whether {@code m}'s weight is chosen on the validation split (it has several candidates). */
    public boolean sweeps(Method m) {
        return weights.getOrDefault(m, List.of()).size() > 1;
    }

    /**
     * One fine-tuning run of the plan.
     *
     * @param weight     the method's weight (null for sft and stl)
     * @param validation whether it is a validation run (evaluated on the validation split, to choose a weight)
     */
    public record Run(Method method, int harmfulCount, long seed, boolean curve, Double weight, boolean validation) {
        /** Folder name under {@code <out>/runs}. */
        public String id() {
            String main = String.format(Locale.ROOT, "%s-n%d-s%d", method.id(), harmfulCount, seed);
            return validation ? String.format(Locale.ROOT, "validation-%s%s-n%d-s%d", method.id(),
                    weight == null ? "" : "-" + weightName(method) + weight, harmfulCount, seed) : main;
        }
    }

    /**
     * The validation runs, in order: sft (the benign-accuracy reference) and every candidate weight of each method
     * that has several, at {@link #sweepCount()} harmful examples and the first seed. Empty when no method sweeps.
     */
    public List<Run> validationRuns() {
        List<Run> out = new ArrayList<>();
        long seed = seeds.get(0);
        for (Method m : methods) {
            if (sweeps(m)) {
                for (double w : weights.get(m)) {
                    out.add(new Run(m, sweepCount, seed, false, w, true));
                }
            }
        }
        if (!out.isEmpty()) {
            out.add(0, new Run(Method.SFT, 0, seed, false, null, true));
        }
        return out;
    }

    /**
     * The reported runs in execution order, each method at its weight in {@code chosen} (which must hold every
     * weighted method): seed-major so a stopped run has every method at some seeds.
     */
    public List<Run> runs(Map<Method, Double> chosen) {
        List<Run> out = new ArrayList<>();
        int largest = harmfulCounts.get(harmfulCounts.size() - 1);
        for (long seed : seeds) {
            for (Method m : methods) {
                Double w = weightName(m) == null ? null : chosen.get(m);
                if (weightName(m) != null && w == null) {
                    throw new IllegalArgumentException("no weight chosen for " + m.id());
                }
                if (!m.needsHarmful()) {
                    out.add(new Run(m, 0, seed, curvePoints > 0 && seed == seeds.get(0), w, false));
                    continue;
                }
                for (int c : harmfulCounts) {
                    out.add(new Run(m, c, seed, curvePoints > 0 && seed == seeds.get(0) && c == largest, w, false));
                }
            }
        }
        return out;
    }
}
