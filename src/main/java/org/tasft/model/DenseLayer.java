package org.tasft.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * What {@link Linear} and GPT-2's {@link Conv1d} share: the sizes, the {@code weight} (in the layout the checkpoint
 * stores) and optional {@code bias} parameters, registered in that order, and the {@link LinearLayer.Adapter} slot.
 * A subclass computes only the layer's own product.
 */
abstract class DenseLayer extends Part implements LinearLayer {
    final Tensor weight;
    final Tensor bias;
    private final boolean fanInFanOut;
    private Adapter adapter;

    /** {@code fanInFanOut}: the weight is stored [in, out] (Conv1D), else [out, in] ({@code nn.Linear}). */
    DenseLayer(long in, long out, boolean fanInFanOut, boolean bias) {
        this.fanInFanOut = fanInFanOut;
        this.weight = parameter("weight", fanInFanOut ? torch.empty(in, out) : torch.empty(out, in));
        this.bias = bias ? parameter("bias", torch.empty(out)) : null;
    }

    /** The layer's output without the adapter: x [..., in] to [..., out]. */
    abstract Tensor product(Tensor x);

    final Tensor forward(Tensor x) {
        Tensor y = product(x);
        return adapter == null ? y : y.add(adapter.forward(x));
    }

    // the sizes are the weight's, read in its layout
    @Override
    public long inFeatures() {
        return weight.size(fanInFanOut ? 0 : 1);
    }

    @Override
    public long outFeatures() {
        return weight.size(fanInFanOut ? 1 : 0);
    }

    @Override
    public Tensor weight() {
        return weight;
    }

    @Override
    public boolean fanInFanOut() {
        return fanInFanOut;
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
