package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tasft.data.Batch;
import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.model.CausalLm;
import org.tasft.train.TaSft.EmbeddingSource;

/** Sft, Nlcl, GradientAscent and Kto against direct formulas; accumulation for every objective; the factory. */
class BaselinesTest {
    private static final double LAMBDA = 0.5;
    private static final boolean[] MIXED = {false, true, false, true};

    @Test
    void sftIgnoresHarmfulSequences() {
        Batch mixed = TrainTesting.batch(11, MIXED);
        CausalLm a = TrainTesting.model();
        StepLoss withHarmful = new Sft().step(a, mixed);

        Tensor safeIdx = TrainTesting.Naive.of(TrainTesting.model(), mixed).index(false);
        Batch safeOnly = new Batch(mixed.inputIds().index_select(0, safeIdx), mixed.labels().index_select(0, safeIdx),
                mixed.attentionMask().index_select(0, safeIdx), new boolean[] {false, false});
        CausalLm b = TrainTesting.model();
        StepLoss without = new Sft().step(b, safeOnly);

        assertEquals(without.total(), withHarmful.total(), 1e-6 * without.total());
        assertEquals(0.0, withHarmful.term());
        assertTrue(withHarmful.harmfulTokens() > 0);
        TrainTesting.assertGradsClose(TrainTesting.grads(a), TrainTesting.grads(b), 1e-6, "Sft");
    }

    @Test
    void nlclMatchesTheNaiveFormula() {
        Batch batch = TrainTesting.batch(12, MIXED);
        CausalLm model = TrainTesting.model();
        StepLoss loss = new Nlcl(LAMBDA).step(model, batch);

        CausalLm ref = TrainTesting.model();
        TrainTesting.Naive n = TrainTesting.Naive.of(ref, batch);
        Tensor lp = n.logp(true);
        Tensor mask = n.mask(true);
        // -log(1 - p) directly (probabilities of a random model are far from 1)
        Tensor perToken = torch.log(torch.exp(lp).neg().add(new Scalar(1.0))).neg()
                .masked_fill(mask.logical_not(), new Scalar(0.0));
        Tensor term = perToken.sum().mul(new Scalar(LAMBDA / n.tokens(true)));
        Tensor total = n.sft().to(ScalarType.Double).add(term);
        total.backward();
        assertEquals(term.item_double(), loss.term(), 1e-5 * Math.abs(term.item_double()));
        assertEquals(total.item_double(), loss.total(), 1e-5 * total.item_double());
        TrainTesting.assertGradsClose(TrainTesting.grads(model), TrainTesting.grads(ref), 1e-4, "Nlcl");
    }

    @Test
    void log1mExpIsStable() {
        double[] xs = {-80, -20, -1, -0.7, -0.6, -1e-3, -1e-5, 0, 3};
        Tensor x = org.tasft.testing.TensorAssert.tensorOf(xs, xs.length).requires_grad_(true);
        Tensor y = Nlcl.log1mExp(x);
        y.sum().backward();
        double[] got = new double[xs.length];
        y.detach().contiguous().data_ptr_double().get(got);
        double[] grad = new double[xs.length];
        x.grad().contiguous().data_ptr_double().get(grad);
        for (int i = 0; i < xs.length; i++) {
            double c = Math.min(xs[i], Nlcl.MAX_LOG_P);
            double expected = Math.log(-Math.expm1(c));
            assertEquals(expected, got[i], 1e-9 * Math.max(1.0, Math.abs(expected)), "x=" + xs[i]);
            assertTrue(Double.isFinite(grad[i]), "gradient at " + xs[i]);
        }
        assertTrue(Math.abs(got[0] + Math.exp(-80)) < 1e-40, "far tail keeps precision");
        assertEquals(0.0, grad[xs.length - 1], "no gradient past the clamp");
    }

    @Test
    void gradientAscentMatchesTheNaiveFormula() {
        Batch batch = TrainTesting.batch(13, MIXED);
        CausalLm model = TrainTesting.model();
        StepLoss loss = new GradientAscent(LAMBDA).step(model, batch);

        CausalLm ref = TrainTesting.model();
        TrainTesting.Naive n = TrainTesting.Naive.of(ref, batch);
        Tensor term = n.logp(true).sum().mul(new Scalar(LAMBDA / n.tokens(true)));
        Tensor total = n.sft().to(ScalarType.Double).add(term);
        total.backward();
        assertTrue(loss.term() < 0);
        assertEquals(term.item_double(), loss.term(), 1e-5 * Math.abs(term.item_double()));
        assertEquals(total.item_double(), loss.total(), 1e-5 * Math.abs(total.item_double()));
        TrainTesting.assertGradsClose(TrainTesting.grads(model), TrainTesting.grads(ref), 1e-4, "GA");
    }

    /** A reference that differs from the policy: tiny-llama with its weights perturbed. */
    private static CausalLm perturbedReference() {
        CausalLm ref = TrainTesting.model();
        torch.manual_seed(99);
        try (NoGradGuard g = new NoGradGuard()) {
            for (Tensor p : ref.stateDict().values()) {
                p.add_(torch.randn_like(p).mul(new Scalar(0.05)));
            }
        }
        return ref;
    }

    /** The KTO loss from the naive sequence log-probabilities (float64), as a tensor in the policy's graph. */
    private static Tensor naiveKto(CausalLm policy, CausalLm reference, Batch batch, double beta) {
        Tensor refLogp;
        try (NoGradGuard g = new NoGradGuard()) {
            refLogp = TrainTesting.Naive.of(reference, batch).sequenceLogp();
        }
        Tensor r = TrainTesting.Naive.of(policy, batch).sequenceLogp().sub(refLogp);
        double z = Math.max(0.0, r.detach().mean().item_double());
        boolean[] h = batch.harmful();
        int nu = batch.harmfulCount(), nd = h.length - nu;
        Tensor loss = null;
        for (int b = 0; b < h.length; b++) {
            double s = h[b] ? -1 : 1;
            Tensor l = torch.sigmoid(r.select(0, b).sub(new Scalar(z)).mul(new Scalar(s * beta))).neg()
                    .add(new Scalar(1.0)).div(new Scalar(h[b] ? nu : nd));
            loss = loss == null ? l : loss.add(l);
        }
        return loss;
    }

    @Test
    void ktoMatchesTheFormulaAndLeavesTheReferenceAlone() {
        Batch batch = TrainTesting.batch(14, MIXED);
        CausalLm reference = perturbedReference();
        CausalLm policy = TrainTesting.model();
        StepLoss loss = new Kto(reference, 0.1, 1.0, 1.0).step(policy, batch);

        CausalLm policyRef = TrainTesting.model();
        Tensor naive = naiveKto(policyRef, perturbedReference(), batch, 0.1);
        naive.backward();
        assertEquals(naive.item_double(), loss.total(), 1e-6);
        assertEquals(loss.sft() + loss.term(), loss.total(), 1e-12);
        TrainTesting.assertGradsClose(TrainTesting.grads(policy), TrainTesting.grads(policyRef), 1e-4, "Kto");
        for (Map.Entry<String, Tensor> p : reference.stateDict().entrySet()) {
            assertFalse(p.getValue().grad().defined(), "reference " + p.getKey() + " got a gradient");
        }
    }

    @Test
    void ktoOfAPolicyEqualToItsReference() {
        Batch batch = TrainTesting.batch(15, MIXED);
        CausalLm policy = TrainTesting.model();
        double lambdaD = 1.0, lambdaU = 3.0;
        StepLoss loss = new Kto(TrainTesting.model(), 0.1, lambdaD, lambdaU).step(policy, batch);
        // r = 0 for every sequence, so z = 0 and each group's loss is lambda (1 - sigmoid(0)) = lambda / 2.
        assertEquals(lambdaD / 2, loss.sft(), 1e-6);
        assertEquals(lambdaU / 2, loss.term(), 1e-6);
        assertEquals((lambdaD + lambdaU) / 2, loss.total(), 1e-6);
        // ... and the gradient is beta/4 (lambda_U/|U| d(sum_U r) - lambda_D/|D| d(sum_D r)), not zero.
        Map<String, Tensor> grads = TrainTesting.grads(policy);
        assertTrue(grads.get("lm_head.weight").abs().max().item_double() > 0);
    }

    static Objective objective(String name) {
        Objectives.Options o = Objectives.Options.defaults().lambda(LAMBDA).reduction(Reduction.TOKEN)
                .embedding(EmbeddingSource.INPUT).reference(perturbedReference());
        return Method.parse(name).objective(o);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"emd", "sft", "nlcl", "ga", "kto"})
    void gradientsAccumulateAndStayFinite(String name) {
        Objective objective = objective(name);
        assertEquals(name, objective.name());
        Batch batch = TrainTesting.batch(16, MIXED);
        CausalLm model = TrainTesting.model();
        StepLoss first = objective.step(model, batch);
        Map<String, Tensor> once = TrainTesting.grads(model);
        StepLoss second = objective.step(model, batch);
        Map<String, Tensor> twice = TrainTesting.grads(model);
        assertEquals(first.total(), second.total(), 1e-6 * Math.abs(first.total()));
        assertTrue(Double.isFinite(first.total()));
        for (String p : once.keySet()) {
            assertTrue(torch.isfinite(once.get(p)).all().item_bool(), p);
            double err = TrainTesting.relativeError(twice.get(p), once.get(p).mul(new Scalar(2.0)));
            assertTrue(err < 1e-6, name + ": " + p + " after two steps is not twice one step's (" + err + ")");
        }
        // every parameter with a gradient has a finite one
        for (Map.Entry<String, Tensor> p : model.stateDict().entrySet()) {
            Tensor g = p.getValue().grad();
            if (g.defined()) {
                assertTrue(torch.isfinite(g).all().item_bool(), p.getKey());
            }
        }
    }

    @Test
    void factory() {
        assertInstanceOf(TaSft.class, objective("EMD"));
        assertInstanceOf(Sft.class, objective("sft"));
        assertInstanceOf(Nlcl.class, objective("nlcl"));
        assertInstanceOf(GradientAscent.class, objective("ga"));
        assertInstanceOf(Kto.class, objective("kto"));
        assertInstanceOf(Sft.class, objective("stl"));
        TaSft t = (TaSft) Method.EMD.objective(Objectives.Options.defaults());
        assertEquals(Reduction.SEQUENCE, t.reduction());
        assertEquals(EmbeddingSource.INPUT, t.embedding());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Method.parse("dpo"));
        for (Method m : Method.values()) {
            assertTrue(e.getMessage().contains(m.id()), e.getMessage());
        }
        e = assertThrows(IllegalArgumentException.class,
                () -> Method.KTO.objective(Objectives.Options.defaults()));
        assertTrue(e.getMessage().contains("reference"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Method.NLCL.objective(Objectives.Options.defaults().lambda(Double.NaN)));
    }
}
