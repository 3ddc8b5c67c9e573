package org.tasft.train;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * What a step does to the gradients between the backward passes and AdamW: scale them (1/A for A accumulated
 * micro-batches) and clip their global norm.
 *
 * <p>Not the presets' {@code torch.clip_grad_norm_} (LibTorch's {@code torch::nn::utils::clip_grad_norm_}), although
 * it is there and agrees to ~3e-8 where both clip (GradientsTest compares them): it sums the norms in float32, so
 * the logged norm and the update would differ from ours in the last bits and a seed would no longer repeat its
 * earlier runs' metrics; its {@code max_norm <= 0} zeroes (0) or flips (negative) the gradients instead of leaving
 * them alone; and a NaN norm makes every gradient NaN, so the non-finite-step error could no longer name the
 * gradient that was NaN. Ours reads the norms back in one host sync all the same.
 */
public final class Gradients {
    private Gradients() {
    }

    /** Multiplies every defined gradient by {@code factor}. */
    public static void scale(Collection<Tensor> params, double factor) {
        try (NoGradGuard g = new NoGradGuard()) {
            for (Tensor p : params) {
                Tensor grad = p.grad();
                if (grad != null && grad.defined()) {
                    grad.mul_(new Scalar(factor));
                }
            }
        }
    }

    /**
     * The global L2 norm of the gradients, then (when {@code maxNorm > 0}) every gradient scaled by
     * {@code min(1, maxNorm / (norm + 1e-6))}, as {@code torch.nn.utils.clip_grad_norm_}. Returns the norm before
     * clipping (NaN or infinite when a gradient is; a NaN norm clips nothing).
     */
    public static double clipGradNorm(Collection<Tensor> params, double maxNorm) {
        try (NoGradGuard g = new NoGradGuard()) {
            List<Tensor> grads = new ArrayList<>();
            TensorVector norms = new TensorVector();
            for (Tensor p : params) {
                Tensor grad = p.grad();
                if (grad != null && grad.defined()) {
                    grads.add(grad);
                    norms.push_back(grad.norm().to(torch.ScalarType.Double)); // exact: the norm as item_double reads it
                }
            }
            double[] each = new double[grads.size()];
            if (!grads.isEmpty()) {
                torch.stack(norms).cpu().data_ptr_double().get(each); // one device-to-host copy for all of them
            }
            double sumSq = 0;
            for (double n : each) {
                sumSq += n * n; // in float64, in parameter order: the same bits as one item_double per tensor
            }
            double norm = Math.sqrt(sumSq);
            if (maxNorm > 0) {
                double coef = maxNorm / (norm + 1e-6);
                if (coef < 1.0) {
                    for (Tensor grad : grads) {
                        grad.mul_(new Scalar(coef));
                    }
                }
            }
            return norm;
        }
    }
}
