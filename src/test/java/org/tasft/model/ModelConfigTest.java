package org.tasft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.model.ModelConfig.Architecture;
import org.tasft.model.ModelConfig.LayerType;
import org.tasft.model.ModelConfig.RopeType;

class ModelConfigTest {
    private static ModelConfig fixture(String name) {
        return ModelConfig.parse(HfFixtureTest.resourceText("/fixtures/" + name + "/config.json"), name);
    }

    @Test
    void llamaFixture() {
        ModelConfig c = fixture("tiny-llama");
        assertEquals(Architecture.LLAMA, c.architecture());
        assertEquals(384, c.vocabSize());
        assertEquals(64, c.hiddenSize());
        assertEquals(160, c.intermediateSize());
        assertEquals(2, c.numLayers());
        assertEquals(4, c.numHeads());
        assertEquals(2, c.numKvHeads());
        assertEquals(16, c.headDim());
        assertEquals(1e-5, c.normEps());
        assertEquals(new ModelConfig.Rope(10000.0, RopeType.DEFAULT, 1.0, 0, 0, 128), c.rope());
        assertEquals(128, c.maxPositionEmbeddings());
        assertFalse(c.tieWordEmbeddings());
        assertFalse(c.attentionBias());
        assertFalse(c.mlpBias());
        assertEquals(OptionalInt.empty(), c.slidingWindow());
        assertEquals(List.of(LayerType.FULL_ATTENTION, LayerType.FULL_ATTENTION), c.layerTypes());
        assertEquals("silu", c.hiddenAct());
        assertEquals(OptionalInt.of(0), c.bosTokenId());
        assertEquals(List.of(1), c.eosTokenIds());
        assertEquals(OptionalInt.of(2), c.padTokenId());
        assertEquals(0.1, c.initializerRange());
        assertTrue(fixture("tiny-llama-tied").tieWordEmbeddings());
    }

    @Test
    void gpt2FixtureMapsItsOwnKeyNames() {
        ModelConfig c = fixture("tiny-gpt2");
        assertEquals(Architecture.GPT2, c.architecture());
        assertEquals(64, c.hiddenSize());
        assertEquals(256, c.intermediateSize()); // n_inner null: 4 x n_embd
        assertEquals(2, c.numLayers());
        assertEquals(4, c.numHeads());
        assertEquals(4, c.numKvHeads());
        assertEquals(16, c.headDim());
        assertEquals(128, c.maxPositionEmbeddings());
        assertEquals("gelu_new", c.hiddenAct());
        assertTrue(c.tieWordEmbeddings());
        assertEquals(null, c.rope());
        assertEquals(OptionalInt.empty(), c.padTokenId());
        assertEquals(List.of(1), c.eosTokenIds());
    }

    @Test
    void keepsTheOriginalTextAndTree() {
        String text = HfFixtureTest.resourceText("/fixtures/tiny-gpt2/config.json");
        ModelConfig c = ModelConfig.parse(text);
        assertEquals(text, c.text());
        assertEquals("5.17.0", c.json().get("transformers_version").asText());
        ((ObjectNode) c.json()).put("vocab_size", 1); // a copy: the config is unchanged
        assertEquals(384, c.json().get("vocab_size").asInt());
    }

    @Test
    void legacyRopeScalingAndLlama3() {
        ObjectNode json = TinyModels.llama(4, 2);
        json.remove("rope_parameters");
        json.put("rope_theta", 500000.0);
        json.putObject("rope_scaling").put("rope_type", "llama3").put("factor", 8.0).put("low_freq_factor", 1.0)
                .put("high_freq_factor", 4.0).put("original_max_position_embeddings", 8192);
        assertEquals(new ModelConfig.Rope(500000.0, RopeType.LLAMA3, 8.0, 1.0, 4.0, 8192),
                TinyModels.config(json).rope());

        json.putObject("rope_scaling").put("type", "linear").put("factor", 2.0);
        assertEquals(new ModelConfig.Rope(500000.0, RopeType.LINEAR, 2.0, 0, 0, 64), TinyModels.config(json).rope());

        json.putNull("rope_scaling");
        assertEquals(new ModelConfig.Rope(500000.0, RopeType.DEFAULT, 1.0, 0, 0, 64), TinyModels.config(json).rope());
    }

    @Test
    void ropeParametersOfTransformers5() {
        ObjectNode json = TinyModels.llama(4, 2);
        ((ObjectNode) json.get("rope_parameters")).put("rope_type", "llama3").put("factor", 32.0)
                .put("low_freq_factor", 1.0).put("high_freq_factor", 4.0);
        // no original_max_position_embeddings: transformers takes max_position_embeddings
        assertEquals(new ModelConfig.Rope(10000.0, RopeType.LLAMA3, 32.0, 1.0, 4.0, 64),
                TinyModels.config(json).rope());
        ((ObjectNode) json.get("rope_parameters")).remove("rope_theta");
        json.put("rope_theta", 123.0);
        assertEquals(123.0, TinyModels.config(json).ropeTheta());
        ((ObjectNode) json.get("rope_parameters")).put("rope_type", "dynamic").put("factor", 2.0);
        assertEquals(RopeType.DYNAMIC, TinyModels.config(json).rope().type());
    }

    @Test
    void tokenIdsMayBeListsOrNull() {
        ObjectNode json = TinyModels.llama(4, 2);
        json.putArray("eos_token_id").add(1).add(7);
        json.putNull("bos_token_id");
        json.putNull("pad_token_id");
        ModelConfig c = TinyModels.config(json);
        assertEquals(List.of(1, 7), c.eosTokenIds());
        assertEquals(OptionalInt.empty(), c.bosTokenId());
        assertEquals(OptionalInt.empty(), c.padTokenId());
        json.remove("bos_token_id");
        assertEquals(OptionalInt.of(1), TinyModels.config(json).bosTokenId()); // LlamaConfig's default
    }

    @Test
    void defaultsOfAbsentKeys() {
        ObjectNode json = TinyModels.llama(4, 2);
        json.remove("num_key_value_heads");
        json.remove("rms_norm_eps");
        json.remove("tie_word_embeddings");
        ModelConfig c = TinyModels.config(json);
        assertEquals(4, c.numKvHeads());
        assertEquals(1e-6, c.normEps());
        assertFalse(c.tieWordEmbeddings());
        assertEquals(16, c.headDim());
    }

    @Test
    void slidingWindows() {
        ModelConfig mistral = TinyModels.config(TinyModels.mistral(4, 2, 5));
        assertEquals(OptionalInt.of(5), mistral.slidingWindow());
        assertEquals(List.of(LayerType.SLIDING_ATTENTION, LayerType.SLIDING_ATTENTION), mistral.layerTypes());
        assertEquals(OptionalInt.empty(), TinyModels.config(TinyModels.mistral(4, 2, null)).slidingWindow());
        ObjectNode absent = TinyModels.mistral(4, 2, 5);
        absent.remove("sliding_window");
        assertEquals(OptionalInt.of(4096), TinyModels.config(absent).slidingWindow()); // MistralConfig's default

        ObjectNode qwen = TinyModels.qwen2(4, 2);
        qwen.put("sliding_window", 5);
        assertEquals(OptionalInt.empty(), TinyModels.config(qwen).slidingWindow()); // use_sliding_window false
        qwen.put("use_sliding_window", true);
        qwen.put("max_window_layers", 1);
        assertEquals(List.of(LayerType.FULL_ATTENTION, LayerType.SLIDING_ATTENTION), TinyModels.config(qwen)
                .layerTypes());
        qwen.putArray("layer_types").add("sliding_attention").add("full_attention");
        assertEquals(List.of(LayerType.SLIDING_ATTENTION, LayerType.FULL_ATTENTION), TinyModels.config(qwen)
                .layerTypes());
        assertTrue(TinyModels.config(qwen).attentionBias());
    }

    @Test
    void architectureFromArchitecturesWhenModelTypeIsAbsent() {
        ObjectNode json = TinyModels.mistral(4, 2, null);
        json.remove("model_type");
        assertEquals(Architecture.MISTRAL, ModelConfig.parse(json.toString()).architecture());
    }

    private static String errorOf(ObjectNode json) {
        return assertThrows(IllegalArgumentException.class, () -> ModelConfig.parse(json.toString(), "dir/config.json"))
                .getMessage();
    }

    @Test
    void errorsNameTheFileAndTheKey() {
        ObjectNode missing = TinyModels.llama(4, 2);
        missing.remove("hidden_size");
        String m = errorOf(missing);
        assertTrue(m.contains("dir/config.json") && m.contains("hidden_size"), m);

        m = errorOf(TinyModels.llama(4, 3));
        assertTrue(m.contains("dir/config.json") && m.contains("num_key_value_heads"), m);

        ObjectNode indivisible = TinyModels.llama(5, 5);
        m = errorOf(indivisible);
        assertTrue(m.contains("num_attention_heads") && m.contains("hidden_size"), m);
        indivisible.put("head_dim", 16); // an explicit head_dim needs no divisibility
        assertEquals(16, TinyModels.config(indivisible).headDim());

        ObjectNode gemma = TinyModels.llama(4, 2);
        gemma.put("model_type", "gemma");
        gemma.putArray("architectures").add("GemmaForCausalLM");
        m = errorOf(gemma);
        assertTrue(m.contains("gemma") && m.contains("llama") && m.contains("gpt2") && m.contains("qwen2"), m);

        ObjectNode yarn = TinyModels.llama(4, 2);
        ((ObjectNode) yarn.get("rope_parameters")).put("rope_type", "yarn").put("factor", 4.0);
        m = errorOf(yarn);
        assertTrue(m.contains("rope_parameters") && m.contains("yarn"), m);

        ObjectNode noFactor = TinyModels.llama(4, 2);
        ((ObjectNode) noFactor.get("rope_parameters")).put("rope_type", "linear");
        assertTrue(errorOf(noFactor).contains("factor"));

        ObjectNode act = TinyModels.llama(4, 2);
        act.put("hidden_act", "swiglu_magic");
        m = errorOf(act);
        assertTrue(m.contains("hidden_act") && m.contains("swiglu_magic"), m);

        ObjectNode gpt2 = TinyModels.gpt2();
        gpt2.remove("n_embd");
        assertTrue(errorOf(gpt2).contains("n_embd"));

        ObjectNode wrongType = TinyModels.llama(4, 2);
        wrongType.put("vocab_size", "many");
        assertTrue(errorOf(wrongType).contains("vocab_size"));

        assertTrue(assertThrows(IllegalArgumentException.class, () -> ModelConfig.parse("[1, 2]", "x.json"))
                .getMessage().contains("x.json"));
    }

    @Test
    void readNamesTheFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("config.json");
        Files.writeString(file, TinyModels.gpt2().toString());
        assertEquals(Architecture.GPT2, ModelConfig.read(file).architecture());
        assertEquals(file.toString(), ModelConfig.read(file).source());
        Exception e = assertThrows(RuntimeException.class, () -> ModelConfig.read(dir.resolve("missing.json")));
        assertTrue(e.getMessage().contains("missing.json"), e.getMessage());
    }
}
