package org.tasft.model.lora;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.model.LinearLayer;

/**
 * One layer's LoRA update: {@code (alpha / r) * B A dropout(x)}, with A [r, in] and B [out, r] trainable. Dropout
 * applies only while the layer's module is in training mode.
 */
public final class LoraAdapter implements LinearLayer.Adapter {
    private final String path;
    private final LinearLayer layer;
    private final LoraConfig config;
    private final Tensor a;
    private final Tensor b;
    private final Scalar scale;

    LoraAdapter(String path, LinearLayer layer, LoraConfig config, Tensor a, Tensor b) {
        this.path = path;
        this.layer = layer;
        this.config = config;
        this.a = a;
        this.b = b;
        this.scale = new Scalar(config.scaling());
    }

    @Override
    public Tensor forward(Tensor x) {
        Tensor in = config.dropout() > 0 && layer.isTraining() ? torch.dropout(x, config.dropout(), true) : x;
        ScalarType compute = x.scalar_type().intern();
        ScalarType own = a.scalar_type().intern();
        if (compute == own) {
            return torch.linear(torch.linear(in, a), b).mul(scale);
        }
        // a reduced-precision base: the adapter computes in its own float32 and hands back the base's dtype (PEFT)
        return torch.linear(torch.linear(in.to(own), a), b).mul(scale).to(compute);
    }

    /** The Hugging Face module path of the adapted layer, e.g. {@code model.layers.0.self_attn.q_proj}. */
    public String path() {
        return path;
    }

    public LinearLayer layer() {
        return layer;
    }

    public LoraConfig config() {
        return config;
    }

    /** lora_A [r, in]. */
    public Tensor a() {
        return a;
    }

    /** lora_B [out, r]. */
    public Tensor b() {
        return b;
    }

    /** {@code (alpha / r) * B A} in the base weight's layout ([out, in], or [in, out] for GPT-2's Conv1D). */
    Tensor delta() {
        Tensor d = torch.matmul(b, a).mul(scale);
        return layer.fanInFanOut() ? d.t() : d;
    }
}
