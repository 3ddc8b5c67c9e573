package org.tasft.model;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

import org.bytedeco.pytorch.AutoGradMode;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * Activation checkpointing per decoder layer, in two phases because LibTorch's Java API has no custom autograd
 * function to hang a recomputation on (torch.utils.checkpoint's mechanism):
 * <ol>
 *   <li>{@link #forward}: the layers run under no-grad, keeping only each layer's input (one [tokens, hidden] tensor
 *       per layer) and the random generator's state before it; the last layer's output becomes a leaf that requires
 *       a gradient, so the caller's graph (final norm, LM head, losses) ends there;</li>
 *   <li>{@link #backward}, after the caller's backward has filled that leaf's gradient: from the top layer down, the
 *       layer is run again with grad from its saved input (and generator state, so dropout draws the same masks),
 *       back-propagated with the incoming gradient (its parameters accumulate their gradients), and its input's
 *       gradient becomes the next layer's incoming one; finally the embedding's output takes the last gradient.</li>
 * </ol>
 * The gradients equal the plain step's (the same operations run on the same values); the random generator ends where
 * the plain step leaves it.
 */
final class LayerCheckpointing {
    /** One checkpointed forward awaiting its backward. */
    private record Pass(Tensor bottom, List<UnaryOperator<Tensor>> layers, List<Tensor> inputs,
            List<Tensor> generatorStates, Tensor top, Generator generator) {
    }

    private final List<Pass> pending = new ArrayList<>();

    /** Whether a forward should be checkpointed: training with autograd on. */
    static boolean applies(boolean training) {
        return training && GradMode.is_enabled();
    }

    /**
     * Runs {@code layers} over {@code bottom} (the embedding's output, in the graph) keeping only their inputs.
     *
     * @return the last layer's output, a leaf that requires a gradient
     */
    Tensor forward(Tensor bottom, List<UnaryOperator<Tensor>> layers) {
        Generator generator = torch.globalContext().defaultGenerator(bottom.device());
        List<Tensor> inputs = new ArrayList<>(layers.size());
        List<Tensor> states = new ArrayList<>(layers.size());
        Tensor x = bottom.detach();
        try (NoGradGuard g = new NoGradGuard()) {
            for (UnaryOperator<Tensor> layer : layers) {
                inputs.add(x);
                states.add(generator.get_state());
                Tensor in = x;
                x = ForwardScope.keepOnly(() -> layer.apply(in));
            }
        }
        Tensor top = x.requires_grad_(true);
        pending.add(new Pass(bottom, List.copyOf(layers), inputs, states, top, generator));
        return top;
    }

    /** Whether forwards wait for {@link #backward}. */
    boolean hasPending() {
        return !pending.isEmpty();
    }

    /** Drops the waiting forwards (a step that failed before its backward). */
    void clear() {
        pending.clear();
    }

    /**
     * The layers' backward for every checkpointed forward since the last call, newest first; a forward whose output
     * got no gradient (not used by any loss) is dropped.
     */
    void backward() {
        try {
            for (int i = pending.size() - 1; i >= 0; i--) {
                backward(pending.get(i));
            }
        } finally {
            pending.clear();
        }
    }

    private static void backward(Pass p) {
        Tensor g = p.top().grad();
        if (g == null || !g.defined()) {
            return;
        }
        Tensor after = p.generator().get_state();
        try (AutoGradMode grad = new AutoGradMode(true)) {
            for (int l = p.layers().size() - 1; l >= 0; l--) {
                Tensor incoming = g;
                UnaryOperator<Tensor> layer = p.layers().get(l);
                Tensor input = p.inputs().get(l);
                p.generator().set_state(p.generatorStates().get(l));
                // the layer's recomputed activations and its input's gradient buffer live only in this scope
                g = ForwardScope.keepOnly(() -> {
                    Tensor x = input.detach().requires_grad_(true);
                    Tensor out = ForwardScope.keepOnly(() -> layer.apply(x)); // its temporaries go before backward
                    torch.backward(new TensorVector(out), new TensorVector(incoming), new BoolOptional(), false,
                            new TensorVector());
                    return x.grad();
                });
                p.inputs().set(l, null);
                if (l > 0) {
                    input.close(); // the saved input goes now, not at the end of the step
                }
                incoming.close();
                if (!g.defined()) {
                    return; // nothing below takes a gradient
                }
            }
            if (p.bottom().requires_grad()) {
                torch.backward(new TensorVector(p.bottom()), new TensorVector(g), new BoolOptional(), false,
                        new TensorVector());
            }
        } finally {
            p.generator().set_state(after);
        }
    }
}
