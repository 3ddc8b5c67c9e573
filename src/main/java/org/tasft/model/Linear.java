package org.tasft.model;

import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * {@code nn.Linear}: weight [out, in] and an optional bias [out], registered as {@code weight} / {@code bias} so the
 * parameter names come out as Hugging Face writes them. LibTorch's LinearImpl would register an undefined bias when
 * there is none; this keeps the module's parameters exactly the checkpoint's tensors.
 *
 * <p>Every module here wraps what {@code register_parameter} returns in {@code new Tensor(...)}: the native method
 * returns a reference into the module's parameter table, which moves when the next parameter is registered (a
 * dangling handle that later showed another module's weight); the copy is a handle of its own on the same tensor.
 */
final class Linear extends Module {
    final Tensor weight;
    final Tensor bias;

    Linear(long in, long out, boolean bias) {
        this.weight = new Tensor(register_parameter("weight", torch.empty(out, in)));
        this.bias = bias ? new Tensor(register_parameter("bias", torch.empty(out))) : null;
    }

    Tensor forward(Tensor x) {
        return bias == null ? torch.linear(x, weight) : torch.linear(x, weight, new TensorOptional(bias));
    }
}
