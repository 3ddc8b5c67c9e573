import java.nio.file.Files;
import java.nio.file.Path;

import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.model.CausalLm;
import org.tasft.model.ModelConfig;
import org.tasft.model.Models;

/**
 * A randomly initialised Llama folder for benchmarks (java single-file program, run by data-parallel.sh):
 * {@code MakeRandomLlama OUT HIDDEN LAYERS INTERMEDIATE TOKENIZER_DIR}; the vocabulary is the tokenizer folder's
 * config.json's.
 */
public class MakeRandomLlama {
    public static void main(String[] a) throws Exception {
        Path out = Path.of(a[0]);
        int hidden = Integer.parseInt(a[1]), layers = Integer.parseInt(a[2]), inter = Integer.parseInt(a[3]);
        Path tok = Path.of(a[4]);
        ModelConfig base = ModelConfig.read(tok.resolve("config.json"));
        String json = """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": false,
                 "attention_dropout": 0.0, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 2,
                 "dtype": "float32", "head_dim": 64, "hidden_act": "silu", "hidden_size": %d,
                 "initializer_range": 0.02, "intermediate_size": %d, "max_position_embeddings": 512,
                 "mlp_bias": false, "num_attention_heads": %d, "num_hidden_layers": %d, "num_key_value_heads": %d,
                 "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false,
                 "vocab_size": %d}
                """.formatted(hidden, inter, hidden / 64, layers, Math.max(1, hidden / 128), base.vocabSize());
        Path tmp = Files.createTempFile("config", ".json");
        Files.writeString(tmp, json);
        CausalLm model = Models.create(ModelConfig.read(tmp), 1);
        Models.save(model, out, tok, ModelFolderWriter.Options.defaults());
        long n = 0;
        for (var t : model.stateDict().values()) {
            n += t.numel();
        }
        System.out.println(out + ": " + n + " parameters");
    }
}
