package org.tasft.experiment;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;

import org.tasft.train.Kto;
import org.tasft.train.Method;
import org.tasft.train.TrainConfig;

/**
 * What {@code tasft experiment} runs: the paper's Tables 2 and 3 in miniature. Every method is fine-tuned from the
 * same unsafe base model at every number of harmful examples and every seed; SFT does not use harmful examples, so it
 * runs once per seed (its row repeats across counts).
 *
 * @param methods          methods, in table order (sft, stl, nlcl, kto, emd; ga also allowed)
 * @param harmfulCounts    numbers of harmful (or, for stl, refusal) examples, ascending
 * @param seeds            fine-tuning seeds (data order, harmful pick, torch)
 * @param steps            fine-tuning steps of every run
 * @param curvePoints      checkpoints along training of the first seed's largest-count run, evaluated for the
 *                         over-refusal-vs-steps curve (0: none)
 * @param lambda           weight of the harmful term of emd, nlcl and ga
 * @param beta             kto's beta
 */
public record ExperimentPlan(List<Method> methods, List<Integer> harmfulCounts, List<Long> seeds, int steps,
                             int curvePoints, double lambda, double beta) {
    /** The paper's methods in its table order. */
    public static final List<Method> DEFAULT_METHODS = List.of(Method.SFT, Method.STL, Method.NLCL, Method.KTO,
            Method.EMD);

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
        if (!Double.isFinite(lambda)) {
            throw new IllegalArgumentException("--lambda must be a finite number, got " + lambda);
        }
        if (!Double.isFinite(beta) || beta <= 0) {
            throw new IllegalArgumentException("--beta must be a finite number > 0, got " + beta);
        }
    }

    /** The full run: the paper's 100/300/500/1000 harmful examples scaled by 1/10, three seeds. */
    public static ExperimentPlan full(int steps) {
        return new ExperimentPlan(DEFAULT_METHODS, List.of(10, 30, 50, 100), List.of(1L, 2L, 3L), steps, 6,
                TrainConfig.DEFAULT_LAMBDA, Kto.DEFAULT_BETA);
    }

    /** {@code --quick}: two counts, two seeds. */
    public static ExperimentPlan quick(int steps) {
        return new ExperimentPlan(DEFAULT_METHODS, List.of(10, 100), List.of(1L, 2L), steps, 4, TrainConfig.DEFAULT_LAMBDA,
                Kto.DEFAULT_BETA);
    }

    /** One fine-tuning run of the plan. */
    public record Run(Method method, int harmfulCount, long seed, boolean curve) {
        /** Folder name under {@code <out>/runs}. */
        public String id() {
            return String.format(Locale.ROOT, "%s-n%d-s%d", method.id(), harmfulCount, seed);
        }
    }

    /** The runs in execution order: seed-major so a stopped run has every method at some seeds. */
    public List<Run> runs() {
        List<Run> out = new ArrayList<>();
        int largest = harmfulCounts.get(harmfulCounts.size() - 1);
        for (long seed : seeds) {
            for (Method m : methods) {
                if (!m.needsHarmful()) {
                    out.add(new Run(m, 0, seed, curvePoints > 0 && seed == seeds.get(0)));
                    continue;
                }
                for (int c : harmfulCounts) {
                    out.add(new Run(m, c, seed, curvePoints > 0 && seed == seeds.get(0) && c == largest));
                }
            }
        }
        return out;
    }
}
