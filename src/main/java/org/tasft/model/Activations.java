package org.tasft.model;

import java.util.List;
import java.util.function.UnaryOperator;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/** transformers' {@code ACT2FN} entries, each computed with the same operations transformers uses. */
final class Activations {
    static final List<String> SUPPORTED = List.of("silu", "swish", "gelu", "gelu_new", "gelu_pytorch_tanh",
            "gelu_fast", "quick_gelu", "relu", "sigmoid", "tanh");

    private static final double SQRT_2_OVER_PI = Math.sqrt(2.0 / Math.PI);

    private Activations() {
    }

    /** The activation named by a config's hidden_act / activation_function; an error naming it if unsupported. */
    static UnaryOperator<Tensor> byName(String name, String source) {
        return switch (name) {
            case "silu", "swish" -> torch::silu;
            case "gelu" -> torch::gelu;
            // NewGELUActivation: the tanh approximation written out, as GPT-2 was trained with
            case "gelu_new" -> Activations::geluNew;
            case "gelu_pytorch_tanh" -> x -> torch.gelu(x, "tanh");
            case "gelu_fast" -> Activations::geluFast;
            case "quick_gelu" -> x -> x.mul(torch.sigmoid(x.mul(new Scalar(1.702))));
            case "relu" -> torch::relu;
            case "sigmoid" -> torch::sigmoid;
            case "tanh" -> torch::tanh;
            default -> throw new IllegalArgumentException(source + ": hidden activation '" + name
                    + "' is not supported; supported: " + SUPPORTED);
        };
    }

    /** {@code 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))}. */
    static Tensor geluNew(Tensor x) {
        Tensor inner = x.add(torch.pow(x, new Scalar(3.0)).mul(new Scalar(0.044715))).mul(new Scalar(SQRT_2_OVER_PI));
        return x.mul(new Scalar(0.5)).mul(torch.tanh(inner).add(new Scalar(1.0)));
    }

    /** {@code 0.5 * x * (1 + tanh(x * 0.7978845608 * (1 + 0.044715 * x * x)))}. */
    static Tensor geluFast(Tensor x) {
        Tensor inner = x.mul(new Scalar(0.7978845608)).mul(x.mul(x).mul(new Scalar(0.044715)).add(new Scalar(1.0)));
        return x.mul(new Scalar(0.5)).mul(torch.tanh(inner).add(new Scalar(1.0)));
    }
}
