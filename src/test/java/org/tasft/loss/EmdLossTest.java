package org.tasft.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.testing.TensorAssert.assertClose;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.testing.RandomCase;

/**
 * The trainer's glue: the gradient the fused kernel pushes into autograd reaches the parameters exactly as autograd
 * of the naive loss term (float64) does, alone or together with an SFT loss in one backward.
 */
class EmdLossTest {
    private static final long IGNORE = RandomCase.IGNORE;
    private static final int ROWS = 12;
    private static final int HIDDEN = 16;
    private static final int VOCAB = 97;
    private static final int DIM = 24;
    private static final long HARMFUL_SEQUENCES = 3;
    private static final double LAMBDA = 0.25;

    /** A tiny "model": logits = h @ W^T with W the parameter, plus a unit embedding and targets. */
    private record Batch(Tensor h, Tensor w, Tensor unit, Tensor targets, Tensor safeTargets) {
        static Batch make(long seed) {
            torch.manual_seed(seed);
            TensorOptions f32 = new TensorOptions(ScalarType.Float);
            Tensor h = torch.randn(new long[] {ROWS, HIDDEN}, f32);
            Tensor w = torch.randn(new long[] {VOCAB, HIDDEN}, f32).mul(new Scalar(0.5));
            Tensor unit = org.tasft.kernel.EmdKernel.unitEmbedding(torch.randn(new long[] {VOCAB, DIM}, f32));
            Tensor targets = torch.randint(VOCAB, new long[] {ROWS}, new TensorOptions(ScalarType.Long));
            targets.narrow(0, 0, 2).fill_(new Scalar(IGNORE)); // prompt positions
            targets.narrow(0, 7, 1).fill_(new Scalar(IGNORE));
            Tensor safeTargets = torch.randint(VOCAB, new long[] {ROWS}, new TensorOptions(ScalarType.Long));
            return new Batch(h, w, unit, targets, safeTargets);
        }

        Tensor parameter(ScalarType type) {
            return w.to(type).clone().requires_grad_(true);
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"SEQUENCE", "TOKEN"})
    void parameterGradientMatchesNaiveAutograd(Reduction reduction) {
        Batch b = Batch.make(41);
        EmdLoss loss = new EmdLoss(b.unit(), LAMBDA, reduction);

        Tensor w = b.parameter(ScalarType.Float);
        Tensor logits = b.h().matmul(w.t());
        EmdLoss.Term term = loss.compute(logits, b.targets(), HARMFUL_SEQUENCES);
        term.backward();

        long tokens = b.targets().ne(new Scalar(IGNORE)).sum().item_long();
        double normalizer = reduction == Reduction.SEQUENCE ? HARMFUL_SEQUENCES : tokens;
        assertEquals(normalizer, term.normalizer());
        assertEquals(-LAMBDA / normalizer, term.scale(), 1e-15);

        Tensor wRef = b.parameter(ScalarType.Double);
        Tensor ref = NaiveEmdLoss.lossRows(b.h().to(ScalarType.Double).matmul(wRef.t()), b.unit(), b.targets(), IGNORE,
                ScalarType.Double).sum().mul(new Scalar(-LAMBDA / normalizer));
        ref.backward();

        assertEquals(ref.item_double(), term.value(), 1e-6 * Math.abs(ref.item_double()));
        assertClose(w.grad(), wRef.grad(), 1e-4, "dL/dW");
        assertEquals(ScalarType.Float, term.lossRows().scalar_type().intern());
        assertEquals(ROWS, term.lossRows().numel());
    }

    @ParameterizedTest(name = "inPlace={0}")
    @CsvSource({"false", "true"})
    void oneBackwardWithTheSftLossMatchesNaive(boolean inPlace) {
        Batch b = Batch.make(42);
        EmdLoss loss = new EmdLoss(b.unit(), LAMBDA, Reduction.SEQUENCE).withInPlaceGradient(inPlace);

        // One logits tensor for the whole batch: rows 0-5 are safe (SFT), rows 6-11 harmful (EMD).
        Tensor w = b.parameter(ScalarType.Float);
        Tensor logits = b.h().matmul(w.t());
        Tensor sft = torch.nll_loss(torch.log_softmax(logits.narrow(0, 0, 6), 1), b.safeTargets().narrow(0, 0, 6));
        double sftValue = sft.item_double();
        EmdLoss.Term term = loss.compute(logits.narrow(0, 6, 6), b.targets().narrow(0, 6, 6), HARMFUL_SEQUENCES);
        EmdLoss.backward(sft, term);

        Tensor wRef = b.parameter(ScalarType.Double);
        Tensor logitsRef = b.h().to(ScalarType.Double).matmul(wRef.t());
        Tensor sftRef = torch.nll_loss(torch.log_softmax(logitsRef.narrow(0, 0, 6), 1),
                b.safeTargets().narrow(0, 0, 6));
        Tensor emdRef = NaiveEmdLoss.lossRows(logitsRef.narrow(0, 6, 6), b.unit(), b.targets().narrow(0, 6, 6), IGNORE,
                ScalarType.Double).sum().mul(new Scalar(-LAMBDA / HARMFUL_SEQUENCES));
        sftRef.add(emdRef).backward();

        assertEquals(sftRef.item_double(), sftValue, 1e-5);
        assertEquals(emdRef.item_double(), term.value(), 1e-6 * Math.abs(emdRef.item_double()));
        assertClose(w.grad(), wRef.grad(), 1e-4, "dL/dW");
    }

    @Test
    void inPlaceGradientGivesTheSameParameterGradient() {
        Batch b = Batch.make(43);
        Tensor[] grads = new Tensor[2];
        double[] value = new double[2];
        for (int i = 0; i < 2; i++) {
            EmdLoss loss = new EmdLoss(b.unit(), LAMBDA, Reduction.TOKEN).withInPlaceGradient(i == 1);
            Tensor w = b.parameter(ScalarType.Float);
            Tensor logits = b.h().matmul(w.t());
            EmdLoss.Term term = loss.compute(logits, b.targets(), HARMFUL_SEQUENCES);
            value[i] = term.value();
            term.backward();
            grads[i] = w.grad();
        }
        assertEquals(value[0], value[1]);
        assertTrue(torch.equal(grads[0], grads[1]), "identical dL/dW");
    }

    @Test
    void inPlaceOverLogitsThatANodeSavedFailsLoudly() {
        Batch b = Batch.make(44);
        EmdLoss loss = new EmdLoss(b.unit(), LAMBDA, Reduction.SEQUENCE).withInPlaceGradient(true);
        Tensor w = b.parameter(ScalarType.Float);
        Tensor logits = b.h().matmul(w.t());
        // A z-loss: logsumexp saves its input, the very memory the gradient is about to overwrite.
        Tensor zLoss = torch.logsumexp(logits, new long[] {1}, false).pow(new Scalar(2)).mean();
        EmdLoss.Term term = loss.compute(logits, b.targets(), HARMFUL_SEQUENCES);
        RuntimeException e = assertThrows(RuntimeException.class, () -> EmdLoss.backward(zLoss, term));
        assertTrue(e.getMessage().contains("inplace"), e.getMessage());
    }

    @Test
    void nothingToNormalizeGivesZero() {
        Batch b = Batch.make(45);
        Tensor allIgnored = torch.full(new long[] {ROWS}, new Scalar(IGNORE), new TensorOptions(ScalarType.Long));
        EmdLoss loss = new EmdLoss(b.unit(), LAMBDA, Reduction.TOKEN);
        Tensor w = b.parameter(ScalarType.Float);
        EmdLoss.Term term = loss.compute(b.h().matmul(w.t()), allIgnored, 0);
        assertEquals(0.0, term.value());
        assertEquals(0.0, term.normalizer());
        term.backward();
        assertEquals(0.0, w.grad().abs().sum().item_double());

        EmdLoss sequences = new EmdLoss(b.unit(), LAMBDA, Reduction.SEQUENCE);
        assertThrows(IllegalArgumentException.class, () -> sequences.compute(b.h(), b.targets(), -1));
        assertThrows(IllegalArgumentException.class,
                () -> sequences.computeWithNormalizer(b.h().matmul(b.w().t()), b.targets(), Double.NaN));
    }

    @Test
    void lowPrecisionLogitsGetAGradientOfTheirDtype() {
        Batch b = Batch.make(46);
        EmdLoss loss = new EmdLoss(b.unit().to(ScalarType.BFloat16), LAMBDA, Reduction.SEQUENCE);
        Tensor w = b.parameter(ScalarType.BFloat16);
        Tensor logits = b.h().to(ScalarType.BFloat16).matmul(w.t());
        EmdLoss.Term term = loss.compute(logits, b.targets(), HARMFUL_SEQUENCES);
        assertEquals(ScalarType.BFloat16, term.gradient().scalar_type().intern());
        term.backward();

        Tensor wRef = b.w().to(ScalarType.BFloat16).to(ScalarType.Double).requires_grad_(true);
        Tensor ref = NaiveEmdLoss.lossRows(b.h().to(ScalarType.BFloat16).to(ScalarType.Double).matmul(wRef.t()),
                b.unit().to(ScalarType.BFloat16), b.targets(), IGNORE, ScalarType.Double).sum()
                .mul(new Scalar(-LAMBDA / HARMFUL_SEQUENCES));
        ref.backward();
        assertEquals(ref.item_double(), term.value(), 2e-2 * Math.abs(ref.item_double()));
        assertClose(w.grad(), wRef.grad(), 5e-2, "dL/dW in bf16");
    }
}
