package org.tasft.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Hand-written configs of small random models, in the shapes config.json files take. */
final class TinyModels {
    static final ObjectMapper MAPPER = new ObjectMapper();
    static final int VOCAB = 96;

    private TinyModels() {
    }

    /** A Llama config: 2 layers, hidden 64, the given heads; callers add or override keys. */
    static ObjectNode llama(int heads, int kvHeads) {
        ObjectNode c = MAPPER.createObjectNode();
        c.put("model_type", "llama");
        c.putArray("architectures").add("LlamaForCausalLM");
        c.put("vocab_size", VOCAB);
        c.put("hidden_size", 64);
        c.put("intermediate_size", 96);
        c.put("num_hidden_layers", 2);
        c.put("num_attention_heads", heads);
        c.put("num_key_value_heads", kvHeads);
        c.put("max_position_embeddings", 64);
        c.put("rms_norm_eps", 1e-6);
        c.put("initializer_range", 0.2);
        c.put("tie_word_embeddings", false);
        c.put("bos_token_id", 0);
        c.put("eos_token_id", 1);
        c.put("pad_token_id", 2);
        ObjectNode rope = c.putObject("rope_parameters");
        rope.put("rope_type", "default");
        rope.put("rope_theta", 10000.0);
        return c;
    }

    static ObjectNode mistral(int heads, int kvHeads, Integer window) {
        ObjectNode c = llama(heads, kvHeads);
        c.put("model_type", "mistral");
        c.putArray("architectures").add("MistralForCausalLM");
        if (window == null) {
            c.putNull("sliding_window");
        } else {
            c.put("sliding_window", window);
        }
        return c;
    }

    static ObjectNode qwen2(int heads, int kvHeads) {
        ObjectNode c = llama(heads, kvHeads);
        c.put("model_type", "qwen2");
        c.putArray("architectures").add("Qwen2ForCausalLM");
        c.put("use_sliding_window", false);
        return c;
    }

    static ObjectNode gpt2() {
        ObjectNode c = MAPPER.createObjectNode();
        c.put("model_type", "gpt2");
        c.putArray("architectures").add("GPT2LMHeadModel");
        c.put("vocab_size", VOCAB);
        c.put("n_embd", 48);
        c.put("n_head", 3);
        c.put("n_layer", 2);
        c.put("n_positions", 64);
        c.put("activation_function", "gelu_new");
        c.put("layer_norm_epsilon", 1e-5);
        c.put("initializer_range", 0.2);
        return c;
    }

    static ModelConfig config(ObjectNode json) {
        return ModelConfig.parse(json.toString(), "test config " + json.get("model_type").asText());
    }

    static CausalLm model(ObjectNode json, long seed) {
        CausalLm model = Models.create(config(json), seed);
        perturbNorms(model, seed);
        return model;
    }

    /** Norm weights and biases away from 1 and 0, so a wrongly applied norm shows. */
    static void perturbNorms(CausalLm model, long seed) {
        torch.manual_seed(seed + 1);
        try (org.bytedeco.pytorch.NoGradGuard g = new org.bytedeco.pytorch.NoGradGuard()) {
            model.stateDict().forEach((name, t) -> {
                if (t.dim() == 1) {
                    t.add_(torch.randn(t.size(0)).mul(new org.bytedeco.pytorch.Scalar(0.1)));
                }
            });
        }
    }

    /** Random int64 token ids [batch, seq] in [3, VOCAB) (0-2 are bos/eos/pad). */
    static Tensor ids(long seed, long batch, long seq) {
        torch.manual_seed(seed);
        return torch.randint(3, VOCAB, new long[] {batch, seq}, new TensorOptions(ScalarType.Long));
    }

    static double maxAbsDiff(Tensor a, Tensor b) {
        return torch.abs(a.sub(b)).max().item_double();
    }
}
