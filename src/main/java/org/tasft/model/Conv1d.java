package org.tasft.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * GPT-2's {@code Conv1D}: a linear layer whose weight is stored [in, out] (the transpose of {@code nn.Linear}), kept in
 * that layout so the state dict matches the checkpoint. {@code y = b + x @ W}, computed as transformers does with one
 * addmm over the flattened leading dimensions; an optional {@link LinearLayer.Adapter} (LoRA) adds to the output.
 */
final class Conv1d extends Part implements LinearLayer {
    final Tensor weight;
    final Tensor bias;
    private final long in;
    private final long out;
    private Adapter adapter;

    Conv1d(long in, long out) {
        this.in = in;
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
        Tensor y = torch.addmm(bias, flat, weight).view(shape);
        return adapter == null ? y : y.add(adapter.forward(x));
    }

    @Override
    public long inFeatures() {
        return in;
    }

    @Override
    public long outFeatures() {
        return out;
    }

    @Override
    public Tensor weight() {
        return weight;
    }

    @Override
    public boolean fanInFanOut() {
        return true;
    }

    @Override
    public Adapter adapter() {
        return adapter;
    }

    @Override
    public void adapter(Adapter adapter) {
        this.adapter = adapter;
    }

    @Override
    public boolean isTraining() {
        return module.is_training();
    }
}
