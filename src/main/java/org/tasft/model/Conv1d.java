package org.tasft.model;

import org.bytedeco.pytorch.Tensor;

/**
 * GPT-2's {@code Conv1D}: a linear layer whose weight is stored [in, out] (the transpose of {@code nn.Linear}), kept in
 * that layout so the state dict matches the checkpoint. {@code y = b + x @ W}, computed as transformers does with one
 * addmm over the flattened leading dimensions; an optional {@link LinearLayer.Adapter} (LoRA) adds to the output.
 */
final class Conv1d extends DenseLayer {
    Conv1d(long in, long out) {
        super(in, out, true, true);
    }

    @Override
    Tensor product(Tensor x) {
        return DenseProduct.transposedLinear(x, weight, bias);
    }
}
