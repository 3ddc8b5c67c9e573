package org.tasft.model;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Llama's RMSNorm as transformers computes it: the statistics in float32 whatever the input dtype, then
 * {@code weight * normalized.to(inputDtype)} (in that order: the weight multiplies after the cast back).
 */
final class RmsNorm extends Part {
    final Tensor weight;
    private final double eps;

    RmsNorm(long hidden, double eps) {
        this.weight = parameter("weight", torch.ones(hidden));
        this.eps = eps;
    }

    Tensor forward(Tensor x) {
        ScalarType inputType = x.scalar_type().intern();
        Tensor h = x.to(ScalarType.Float);
        Tensor variance = h.pow(new Scalar(2)).mean(new long[] {-1}, true, new ScalarTypeOptional());
        h = h.mul(torch.rsqrt(variance.add(new Scalar(eps))));
        return weight.mul(h.to(inputType));
    }
}
