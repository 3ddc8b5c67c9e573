package org.tasft.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.tasft.testing.TensorAssert.assertClose;
import static org.tasft.testing.TensorAssert.tensorOf;
import static org.tasft.testing.TensorAssert.values;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.tasft.kernel.EmdKernel;
import org.tasft.kernel.EmdKernel.GradientMode;
import org.tasft.kernel.EmdKernel.Options;
import org.tasft.testing.RandomCase;

/**
 * The two oracles checked against first principles on a small case: the loss against a plain-Java transcription of
 * the definition, the gradients (kernel and autograd) against central finite differences in float64.
 */
class NaiveEmdLossTest {
    private static final long IGNORE = RandomCase.IGNORE;

    /** d_n = ||ehat[y] - softmax(z_n) @ ehat||^2 in doubles, straight from the definition. */
    private static double[] javaReference(double[] z, double[] e, long[] y, int rows, int vocab, int dim) {
        double[] d = new double[rows];
        for (int n = 0; n < rows; n++) {
            if (y[n] == IGNORE) {
                continue;
            }
            double max = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < vocab; v++) {
                max = Math.max(max, z[n * vocab + v]);
            }
            double[] p = new double[vocab];
            double sum = 0;
            for (int v = 0; v < vocab; v++) {
                p[v] = Math.exp(z[n * vocab + v] - max);
                sum += p[v];
            }
            for (int k = 0; k < dim; k++) {
                double u = 0;
                for (int v = 0; v < vocab; v++) {
                    u += p[v] / sum * e[v * dim + k];
                }
                double r = u - e[(int) y[n] * dim + k];
                d[n] += r * r;
            }
        }
        return d;
    }

    private static long[] longs(Tensor t) {
        long[] out = new long[(int) t.numel()];
        t.contiguous().data_ptr_long().get(out);
        return out;
    }

    @Test
    void lossMatchesPlainJavaDefinition() {
        RandomCase c = RandomCase.of(31, 7, 11, 5, 2.5, 0.3);
        double[] expected = javaReference(values(c.logits()), values(c.unitEmbedding()), longs(c.targets()), 7, 11, 5);
        Tensor want = tensorOf(expected, 7);

        assertClose(NaiveEmdLoss.lossRows(c.logits(), c.unitEmbedding(), c.targets(), IGNORE, ScalarType.Double),
                want, 1e-12, "naive float64");
        assertClose(NaiveEmdLoss.lossRows(c.logits(), c.unitEmbedding(), c.targets(), IGNORE), want, 1e-5,
                "naive float32");
        assertClose(EmdKernel.lossRows(c.logits(), c.unitEmbedding(), c.targets(), IGNORE), want, 1e-5, "kernel");
    }

    @Test
    void gradientsMatchCentralFiniteDifferences() {
        int rows = 4;
        int vocab = 9;
        int dim = 3;
        RandomCase c = RandomCase.of(32, rows, vocab, dim, 2.0, 0.0);
        Tensor targets = c.targets().clone();
        targets.narrow(0, 1, 1).fill_(new Scalar(IGNORE));
        Tensor z = c.logits().to(ScalarType.Double);

        // d(sum d)/dz by central differences of the float64 naive loss, step h: error O(h^2) ~ 1e-10.
        double h = 1e-5;
        double[] fd = new double[rows * vocab];
        for (int i = 0; i < fd.length; i++) {
            Tensor plus = z.clone();
            Tensor minus = z.clone();
            plus.view(-1).narrow(0, i, 1).add_(new Scalar(h));
            minus.view(-1).narrow(0, i, 1).sub_(new Scalar(h));
            double fp = NaiveEmdLoss.lossRows(plus, c.unitEmbedding(), targets, IGNORE, ScalarType.Double).sum()
                    .item_double();
            double fm = NaiveEmdLoss.lossRows(minus, c.unitEmbedding(), targets, IGNORE, ScalarType.Double).sum()
                    .item_double();
            fd[i] = (fp - fm) / (2 * h);
        }
        Tensor want = tensorOf(fd, rows, vocab);

        Tensor leaf = z.clone().requires_grad_(true);
        NaiveEmdLoss.lossRows(leaf, c.unitEmbedding(), targets, IGNORE, ScalarType.Double).sum().backward();
        assertClose(leaf.grad(), want, 1e-7, "autograd of the naive loss");

        EmdKernel.Result r = EmdKernel.compute(c.logits(), c.unitEmbedding(), targets,
                Options.defaults().ignoreIndex(IGNORE).gradient(GradientMode.NEW_TENSOR));
        assertClose(r.gradLogits(), want, 2e-5, "kernel");
        for (double v : values(r.gradLogits().select(0, 1))) {
            assertEquals(0.0, v, "ignored row");
        }
    }

    @Test
    void lossTermScalesTheSum() {
        RandomCase c = RandomCase.of(33, 5, 13, 4, 1.0, 0.0);
        double sum = NaiveEmdLoss.lossRows(c.logits(), c.unitEmbedding(), c.targets(), IGNORE).sum().item_double();
        double term = NaiveEmdLoss.lossTerm(c.logits(), c.unitEmbedding(), c.targets(), IGNORE, 0.25, 2).item_double();
        assertEquals(-0.25 / 2 * sum, term, 1e-6);
        assertEquals(0.0, NaiveEmdLoss.lossTerm(c.logits(), c.unitEmbedding(), c.targets(), IGNORE, 0.25, 0)
                .item_double());
        assertEquals(ScalarType.Float, NaiveEmdLoss.lossRows(c.logits().to(ScalarType.BFloat16), c.unitEmbedding(),
                c.targets(), IGNORE).scalar_type().intern());
        assertEquals(0, torch.zeros(new long[] {0}, new TensorOptions(ScalarType.Float)).numel());
    }
}
