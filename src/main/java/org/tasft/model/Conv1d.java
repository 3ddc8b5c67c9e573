package org.tasft.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

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
        long[] shape = new long[(int) x.dim()];
        for (int i = 0; i < shape.length - 1; i++) {
            shape[i] = x.size(i);
        }
        shape[shape.length - 1] = weight.size(1); // out: the weight is [in, out]
        Tensor flat = x.reshape(-1, x.size(-1));
        return torch.addmm(bias, flat, weight).view(shape);
    }
}
