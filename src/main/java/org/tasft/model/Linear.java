package org.tasft.model;

import org.bytedeco.pytorch.Tensor;

/**
 * {@code nn.Linear}: weight [out, in] and an optional bias [out], registered as {@code weight} / {@code bias} so the
 * parameter names come out as Hugging Face writes them. An optional {@link LinearLayer.Adapter} (LoRA) adds to the
 * output. LibTorch's LinearImpl would register an undefined bias when
 * there is none; this keeps the module's parameters exactly the checkpoint's tensors.
 */
final class Linear extends DenseLayer {
    Linear(long in, long out, boolean bias) {
        super(in, out, false, bias);
    }

    @Override
    Tensor product(Tensor x) {
        return DenseProduct.linear(x, weight, bias);
    }
}
