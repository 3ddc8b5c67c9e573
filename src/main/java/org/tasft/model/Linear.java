package org.tasft.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * {@code nn.Linear}: weight [out, in] and an optional bias [out], registered as {@code weight} / {@code bias} so the
 * parameter names come out as Hugging Face writes them. LibTorch's LinearImpl would register an undefined bias when
 * there is none; this keeps the module's parameters exactly the checkpoint's tensors.
 */
final class Linear extends Part {
    final Tensor weight;
    final Tensor bias;

    Linear(long in, long out, boolean bias) {
        this.weight = parameter("weight", torch.empty(out, in));
        this.bias = bias ? parameter("bias", torch.empty(out)) : null;
    }

    Tensor forward(Tensor x) {
        return bias == null ? torch.linear(x, weight) : torch.linear(x, weight, new TensorOptional(bias));
    }
}
