package org.tasft.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/** {@code nn.LayerNorm} over the last dimension, with weight and bias (GPT-2's ln_1, ln_2, ln_f). */
final class LayerNorm extends Part {
    final Tensor weight;
    final Tensor bias;
    private final long hidden;
    private final double eps;

    LayerNorm(long hidden, double eps) {
        this.hidden = hidden;
        this.eps = eps;
        this.weight = parameter("weight", torch.ones(hidden));
        this.bias = parameter("bias", torch.zeros(hidden));
    }

    Tensor forward(Tensor x) {
        return torch.layer_norm(x, new long[] {hidden}, new TensorOptional(weight), new TensorOptional(bias), eps,
                true);
    }
}
