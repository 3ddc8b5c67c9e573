package org.tasft.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * GPT-2's {@code Conv1D}: a linear layer whose weight is stored [in, out] (the transpose of {@code nn.Linear}), kept in
 * that layout so the state dict matches the checkpoint. {@code y = b + x @ W}, computed as transformers does with one
 * addmm over the flattened leading dimensions.
 */
final class Conv1d extends Part {
    final Tensor weight;
    final Tensor bias;
    private final long out;

    Conv1d(long in, long out) {
        this.out = out;
        this.weight = parameter("weight", torch.empty(in, out));
        this.bias = parameter("bias", torch.empty(out));
    }

    Tensor forward(Tensor x) {
        long[] shape = new long[(int) x.dim()];
        for (int i = 0; i < shape.length - 1; i++) {
            shape[i] = x.size(i);
        }
        shape[shape.length - 1] = out;
        Tensor flat = x.reshape(-1, x.size(-1));
        return torch.addmm(bias, flat, weight).view(shape);
    }
}
