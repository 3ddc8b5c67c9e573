package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Gradients#clipGradNorm} against the presets' {@code torch.clip_grad_norm_} (why it is not used: see
 * {@link Gradients}) and against its earlier form (one {@code item_double} per gradient).
 */
class GradientsTest {
    /** Parameters of several shapes with gradients of about {@code scale} (seeded). */
    private static List<Tensor> params(long seed, double scale) {
        torch.manual_seed(seed);
        List<Tensor> ps = new ArrayList<>();
        for (long[] shape : new long[][] {{3, 4}, {5}, {7, 2, 3}, {1}}) {
            ps.add(torch.randn(shape).requires_grad_(true));
        }
        Tensor loss = null;
        for (Tensor p : ps) {
            Tensor t = p.mul(torch.randn(p.sizes().vec().get()).mul(new Scalar(scale))).sum();
            loss = loss == null ? t : loss.add(t);
        }
        loss.backward();
        return ps;
    }

    /** Fresh parameters holding copies of {@code ps}'s gradients. */
    private static List<Tensor> copy(List<Tensor> ps) {
        List<Tensor> out = new ArrayList<>();
        for (Tensor p : ps) {
            Tensor c = p.detach().clone().requires_grad_(true);
            c.sum().mul(new Scalar(0.0)).backward();
            c.grad().copy_(p.grad());
            out.add(c);
        }
        return out;
    }

    private static double libTorch(List<Tensor> ps, double maxNorm) {
        return torch.clip_grad_norm_(new TensorVector(ps.toArray(new Tensor[0])), maxNorm, 2.0, false);
    }

    private static double maxGradDiff(List<Tensor> a, List<Tensor> b) {
        double d = 0;
        for (int i = 0; i < a.size(); i++) {
            d = Math.max(d, a.get(i).grad().sub(b.get(i).grad()).abs().max().item_double());
        }
        return d;
    }

    private static void poison(List<Tensor> ps) {
        ps.get(1).grad().fill_(new Scalar(Double.NaN));
    }

    @ParameterizedTest(name = "scale {0}, max {1}")
    @CsvSource({"0.01, 1.0", "1.0, 1.0", "1.0, 4.0", "100.0, 1.0", "100.0, 1e9"})
    void agreesWithLibTorchsClipGradNormWhereBothClip(double scale, double maxNorm) {
        List<Tensor> ours = params(3, scale);
        List<Tensor> theirs = copy(ours);
        double norm = Gradients.clipGradNorm(ours, maxNorm);
        double expected = libTorch(theirs, maxNorm);
        assertEquals(expected, norm, 1e-6 * expected); // LibTorch sums in float32: ~3e-8 apart, not bit-equal
        assertTrue(maxGradDiff(ours, theirs) <= 1e-6 * Math.max(1, scale), "clipped gradients differ");
    }

    @Test
    void maxNormZeroOrBelowReturnsTheNormAndClipsNothingWhereLibTorchWouldZeroOrFlip() {
        for (double maxNorm : new double[] {0.0, -1.0}) {
            List<Tensor> ours = params(5, 1.0);
            List<Tensor> before = copy(ours);
            List<Tensor> theirs = copy(ours);
            double norm = Gradients.clipGradNorm(ours, maxNorm);
            assertEquals(libTorch(copy(before), 1e9), norm, 1e-6 * norm);
            assertEquals(0.0, maxGradDiff(ours, before), 0.0, "max " + maxNorm + " changed the gradients");
            libTorch(theirs, maxNorm);
            assertTrue(maxGradDiff(theirs, before) > 0.1, "LibTorch's max " + maxNorm + " keeps the gradients");
        }
    }

    @Test
    void aNanGradientGivesANanNormAndLeavesTheOtherGradientsWhereLibTorchWouldSpreadIt() {
        List<Tensor> ours = params(7, 1.0);
        poison(ours);
        List<Tensor> theirs = copy(ours);
        assertTrue(Double.isNaN(Gradients.clipGradNorm(ours, 1.0)));
        assertTrue(Double.isNaN(libTorch(theirs, 1.0)));
        // so the non-finite-step error can still name the parameter whose gradient was NaN
        assertTrue(torch.isfinite(ours.get(0).grad()).all().item_bool());
        assertTrue(torch.isnan(theirs.get(0).grad()).all().item_bool());
    }

    @Test
    void oneHostSyncGivesTheSameBitsAsOneItemPerGradient() {
        for (double scale : new double[] {1e-3, 1.0, 1e3}) {
            List<Tensor> ps = params(11, scale);
            double sumSq = 0;
            for (Tensor p : ps) {
                double n = p.grad().norm().item_double();
                sumSq += n * n;
            }
            assertEquals(Math.sqrt(sumSq), Gradients.clipGradNorm(ps, 1e9), 0.0);
        }
        assertEquals(0.0, Gradients.clipGradNorm(List.of(torch.ones(3)), 1.0), 0.0); // no gradients
    }
}
