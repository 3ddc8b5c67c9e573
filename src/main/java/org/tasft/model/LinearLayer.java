package org.tasft.model;

import org.bytedeco.pytorch.Tensor;

/**
 * A projection inside a model ({@code nn.Linear}, or GPT-2's {@code Conv1D}) that an adapter such as LoRA can hook
 * into: while an {@link Adapter} is set, the layer's forward returns {@code base(x) + adapter.forward(x)}. The base
 * weight stays the layer's own parameter (and the model's state dict never contains adapter tensors).
 */
public interface LinearLayer {
    /** What an adapter adds to the layer's output: x [..., in] to [..., out]. */
    @FunctionalInterface
    interface Adapter {
        Tensor forward(Tensor x);
    }

    long inFeatures();

    long outFeatures();

    /** The base weight: [out, in] for {@code nn.Linear}, [in, out] for GPT-2's Conv1D (see {@link #fanInFanOut()}). */
    Tensor weight();

    /** True when {@link #weight()} is stored [in, out] (GPT-2's Conv1D), as PEFT's {@code fan_in_fan_out} says. */
    boolean fanInFanOut();

    /** The adapter in use, or null. */
    Adapter adapter();

    /** Sets (or, with null, removes) the adapter. */
    void adapter(Adapter adapter);

    /** Whether the layer's module is in training mode (adapter dropout applies only then). */
    boolean isTraining();
}
