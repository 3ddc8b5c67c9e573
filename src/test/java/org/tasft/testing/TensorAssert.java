package org.tasft.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Comparisons of tensors (any dtype, any layout) through float64 copies on the host. */
public final class TensorAssert {
    private TensorAssert() {
    }

    /** The elements in row-major order, as doubles. */
    public static double[] values(Tensor t) {
        Tensor d = t.detach().to(ScalarType.Double).contiguous();
        double[] out = new double[Math.toIntExact(d.numel())];
        if (out.length > 0) {
            d.data_ptr_double().get(out);
        }
        return out;
    }

    /** A new float64 CPU tensor holding {@code data} (row-major) in the given shape. */
    public static Tensor tensorOf(double[] data, long... shape) {
        Tensor t = torch.empty(shape, new TensorOptions(ScalarType.Double), new MemoryFormatOptional());
        if (t.numel() != data.length) {
            throw new IllegalArgumentException(data.length + " values for " + t.numel() + " elements");
        }
        if (data.length > 0) {
            t.data_ptr_double().put(data);
        }
        return t;
    }

    public static long[] shape(Tensor t) {
        long[] s = new long[(int) t.dim()];
        for (int i = 0; i < s.length; i++) {
            s[i] = t.size(i);
        }
        return s;
    }

    /** The largest |a - b| over all elements, divided by the largest |b| (0 when both are all zero). */
    public static double maxRelativeError(Tensor actual, Tensor expected) {
        double[] a = values(actual);
        double[] b = values(expected);
        double err = 0;
        double scale = 0;
        for (int i = 0; i < a.length; i++) {
            err = Math.max(err, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(b[i]));
        }
        return scale == 0 ? err : err / scale;
    }

    /**
     * Every element within {@code atol + rtol * |expected|}, where atol is {@code rtol * max|expected|}: a relative
     * tolerance that does not demand full relative accuracy of elements far below the tensor's scale.
     */
    public static void assertClose(Tensor actual, Tensor expected, double rtol, String what) {
        assertArrayEquals(shape(expected), shape(actual), what + ": shape");
        double[] a = values(actual);
        double[] b = values(expected);
        double scale = 0;
        for (double v : b) {
            scale = Math.max(scale, Math.abs(v));
        }
        double atol = rtol * scale;
        for (int i = 0; i < a.length; i++) {
            double tol = atol + rtol * Math.abs(b[i]);
            if (!(Math.abs(a[i] - b[i]) <= tol)) {
                fail(String.format("%s: element %d is %.9g, expected %.9g (|diff| %.3g > tol %.3g; max|expected| %.3g)",
                        what, i, a[i], b[i], Math.abs(a[i] - b[i]), tol, scale));
            }
        }
    }

    /** Bit-for-bit equal values (compared as doubles, so NaN equals NaN). */
    public static void assertSameValues(Tensor actual, Tensor expected, String what) {
        assertArrayEquals(shape(expected), shape(actual), what + ": shape");
        assertArrayEquals(values(expected), values(actual), 0.0, what);
    }

    /**
     * Gradients of d = ||r||^2 with respect to the logits: dz_v = 2 p_v (r.e_v - r.u) subtracts two nearly equal dot
     * products where p_v ~ 1, so any float32 computation has an absolute error of about 2 p_v |r| sqrt(D) eps there.
     * Each element must lie within {@code rtol * |expected| + cancellation + floor}, as in the native tests.
     *
     * @param probs  [rows, vocab] softmax of the logits (float64)
     * @param lossRows [rows] d per row (|r| = sqrt(d))
     * @param scale  |grad_scale| the gradient was multiplied by
     */
    public static void assertGradientClose(Tensor actual, Tensor expected, Tensor probs, Tensor lossRows, long dim,
            double scale, double rtol, double eps, double floor, String what) {
        assertArrayEquals(shape(expected), shape(actual), what + ": shape");
        long vocab = expected.size(1);
        double[] a = values(actual);
        double[] b = values(expected);
        double[] p = values(probs);
        double[] d = values(lossRows);
        for (int i = 0; i < a.length; i++) {
            int row = (int) (i / vocab);
            double cancel = scale * 2.0 * Math.sqrt(Math.max(d[row], 0)) * Math.sqrt(dim) * eps * p[i];
            double tol = rtol * Math.abs(b[i]) + cancel + floor;
            if (!(Math.abs(a[i] - b[i]) <= tol)) {
                fail(String.format("%s: element [%d, %d] is %.9g, expected %.9g (|diff| %.3g > tol %.3g, p %.3g)",
                        what, row, i % vocab, a[i], b[i], Math.abs(a[i] - b[i]), tol, p[i]));
            }
        }
    }
}
