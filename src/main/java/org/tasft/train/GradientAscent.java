package org.tasft.train;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.tasft.data.Batch;
import org.tasft.model.CausalLm;

/**
 * Gradient-ascent baseline ("ga"): {@code L = L_SFT + lambda * mean over harmful response tokens of log p(y_t)}
 * (minimising it pushes the harmful tokens' likelihood down, without bound).
 */
public final class GradientAscent implements Objective {
    private final double lambda;

    public GradientAscent(double lambda) {
        if (!Double.isFinite(lambda)) {
            throw new IllegalArgumentException("lambda: must be finite, got " + lambda);
        }
        this.lambda = lambda;
    }

    @Override
    public String name() {
        return "ga";
    }

    public double lambda() {
        return lambda;
    }

    @Override
    public StepLoss step(CausalLm model, Batch batch, ShardTotals totals) {
        StepForward f = StepForward.run(model, batch);
        StepForward.Rows safe = f.rows(batch.harmful(), false);
        StepForward.Rows harmful = f.rows(batch.harmful(), true);
        double[] n = totals.meanOverRanks(safe.tokens(), harmful.tokens());
        Tensor sft = StepForward.sftLoss(safe, n[0]);
        Tensor term = harmful.isEmpty() ? null
                : StepForward.nllSum(harmful).mul(new Scalar(-lambda / n[1]));
        return finish(sft, term, safe, harmful);
    }

    /** One backward of {@code sft + term} (either may be null) and the values. */
    static StepLoss finish(Tensor sft, Tensor term, StepForward.Rows safe, StepForward.Rows harmful) {
        Tensor total = StepForward.add(sft, term);
        double sftValue = StepForward.value(sft);
        double termValue = StepForward.value(term);
        StepForward.backward(total);
        return new StepLoss(sftValue + termValue, sftValue, termValue, safe.tokens(), harmful.tokens(),
                safe.sequences(), harmful.sequences());
    }
}
