package org.tasft.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * {@code nn.Linear}: weight [out, in] and an optional bias [out], registered as {@code weight} / {@code bias} so the
 * parameter names come out as Hugging Face writes them. An optional {@link LinearLayer.Adapter} (LoRA) adds to the
 * output. LibTorch's LinearImpl would register an undefined bias when
 * there is none; this keeps the module's parameters exactly the checkpoint's tensors.
 */
final class Linear extends Part implements LinearLayer {
    final Tensor weight;
    final Tensor bias;
    private final long in;
    private final long out;
    private Adapter adapter;

    Linear(long in, long out, boolean bias) {
        this.in = in;
        this.out = out;
        this.weight = parameter("weight", torch.empty(out, in));
        this.bias = bias ? parameter("bias", torch.empty(out)) : null;
    }

    Tensor forward(Tensor x) {
        Tensor y = bias == null ? torch.linear(x, weight) : torch.linear(x, weight, new TensorOptional(bias));
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
        return false;
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
