package org.tasft.model;

import java.util.function.Supplier;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * Runs one piece of a forward (a decoder layer) in its own {@link PointerScope} and keeps only its result. Every
 * tensor LibTorch hands to Java holds its memory until its Java handle is released; inside the trainer's per-step
 * scope that would be the end of the step, so every temporary of every layer (attention scores before the mask, the
 * MLP's products, ...) would live through the backward. Closing a scope per layer releases the temporaries at once;
 * what autograd saved for the backward it keeps by its own references, as in PyTorch.
 *
 * <p>Not for a forward with a KV cache: the cache keeps Java handles of the keys and values it appends.
 */
final class ForwardScope {
    private ForwardScope() {
    }

    /** {@code body.get()}, with every other tensor handle created by it released on return. */
    static Tensor keepOnly(Supplier<Tensor> body) {
        Tensor kept = new Tensor(); // a handle of the enclosing scope, which the result is assigned to
        try (PointerScope scope = new PointerScope()) {
            kept.put(body.get());
        }
        return kept;
    }
}
