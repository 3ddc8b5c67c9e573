package org.tasft.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.checkpoint.CheckpointTesting.assertSameValues;
import static org.tasft.checkpoint.CheckpointTesting.fixture;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.tasft.testing.Safetensors;

/** The model fixtures made with transformers (src/test/resources/fixtures/make_hf_fixtures.py) open as expected. */
class FixtureCheckpointTest {
    @Test
    void tinyLlamaHasTheHuggingFaceNamesAndShapes() {
        try (TensorSource s = Checkpoints.open(fixture("tiny-llama"))) {
            assertEquals(21, s.names().size());
            assertEquals(List.of("lm_head.weight", "model.embed_tokens.weight",
                    "model.layers.0.input_layernorm.weight"), List.copyOf(s.names()).subList(0, 3));
            assertArrayEquals(new long[] {384, 64}, s.info("lm_head.weight").shape());
            assertArrayEquals(new long[] {384, 64}, s.info("model.embed_tokens.weight").shape());
            assertArrayEquals(new long[] {32, 64}, s.info("model.layers.1.self_attn.k_proj.weight").shape());
            assertArrayEquals(new long[] {64, 160}, s.info("model.layers.0.mlp.down_proj.weight").shape());
            assertArrayEquals(new long[] {64}, s.info("model.norm.weight").shape());
            assertEquals("F32", s.info("model.norm.weight").dtype());
            assertEquals(Map.of("format", "pt"), ((SafetensorsFile) s).metadata());
        }
    }

    @Test
    void tiedLlamaSavesTheEmbeddingOnlyOnce() {
        try (TensorSource s = Checkpoints.open(fixture("tiny-llama-tied"))) {
            assertEquals(20, s.names().size());
            assertFalse(s.names().contains("lm_head.weight"));
            assertTrue(s.names().contains("model.embed_tokens.weight"));
        }
    }

    @Test
    void gpt2HasConv1dShapedWeights() {
        try (TensorSource s = Checkpoints.open(fixture("tiny-gpt2/model.safetensors"))) {
            assertEquals(28, s.names().size());
            // GPT-2 stores Conv1D weights as [in, out]
            assertArrayEquals(new long[] {64, 192}, s.info("transformer.h.0.attn.c_attn.weight").shape());
            assertArrayEquals(new long[] {128, 64}, s.info("transformer.wpe.weight").shape());
            assertArrayEquals(new long[] {384, 64}, s.info("transformer.wte.weight").shape());
        }
    }

    @Test
    void valuesAgreeWithTheIndependentTestReader() {
        for (String model : List.of("tiny-llama", "tiny-llama-tied", "tiny-gpt2")) {
            Safetensors oracle = Safetensors.load("/fixtures/" + model + "/model.safetensors");
            try (TensorSource s = Checkpoints.open(fixture(model))) {
                for (String name : s.names()) {
                    assertSameValues(oracle.get(name), s.load(name), model + " " + name);
                }
            }
        }
    }
}
