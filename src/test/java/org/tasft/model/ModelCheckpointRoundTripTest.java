package org.tasft.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tasft.checkpoint.CheckpointException;
import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.checkpoint.SafetensorsWriter;
import org.tasft.testing.Safetensors;

/**
 * The model and checkpoint stages together: a transformers-made folder loads with {@link Models#load(Path)} and
 * gives transformers' logits; saving it and loading it back gives identical logits, sharded or not.
 */
class ModelCheckpointRoundTripTest {
    @TempDir
    Path tmp;

    static Path fixture(String name) {
        try {
            return Path.of(ModelCheckpointRoundTripTest.class.getResource("/fixtures/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Tensor ids(String name) {
        return Safetensors.load("/fixtures/" + name + "/expected.safetensors").get("input_ids");
    }

    static float[] logits(CausalLm model, Tensor ids) {
        Tensor out = model.forward(ids).contiguous();
        float[] values = new float[(int) out.numel()];
        new org.bytedeco.javacpp.FloatPointer(out.data_ptr()).get(values);
        return values;
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-llama-tied", "tiny-gpt2"})
    void loadsFromTheFolderWithTransformersLogits(String name) {
        CausalLm model = Models.load(fixture(name));
        Tensor expected = Safetensors.load("/fixtures/" + name + "/expected.safetensors").get("logits");
        double maxDiff = model.forward(ids(name)).sub(expected).abs().max().item_double();
        assertTrue(maxDiff <= 1e-4, name + ": max |logits - transformers| = " + maxDiff);
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-llama-tied", "tiny-gpt2"})
    void saveThenLoadGivesIdenticalLogits(String name) throws IOException {
        CausalLm original = Models.load(fixture(name));
        Path out = tmp.resolve(name + "-saved");
        Models.save(original, out, fixture(name), ModelFolderWriter.Options.defaults());
        assertTrue(Files.exists(out.resolve("config.json")) && Files.exists(out.resolve("tokenizer.json")),
                "config and tokenizer copied along");
        CausalLm reloaded = Models.load(out);
        assertArrayEquals(logits(original, ids(name)), logits(reloaded, ids(name)), name + ": logits changed");
        assertEquals(original.stateDict().keySet(), reloaded.stateDict().keySet());
        assertEquals(original.config().json(), ModelConfig.read(out.resolve("config.json")).json(),
                "config.json written back unchanged");
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-gpt2"})
    void aShardedCopyLoadsWithIdenticalLogits(String name) throws IOException {
        CausalLm original = Models.load(fixture(name));
        Path out = tmp.resolve(name + "-sharded");
        Models.save(original, out, null, ModelFolderWriter.Options.defaults().maxShardBytes(100_000));
        try (var files = Files.list(out)) {
            List<String> shards = files.map(p -> p.getFileName().toString())
                    .filter(f -> f.matches("model-\\d{5}-of-\\d{5}\\.safetensors")).toList();
            assertTrue(shards.size() > 1, "expected several shards, got " + shards);
        }
        assertTrue(Files.exists(out.resolve("model.safetensors.index.json")));
        assertArrayEquals(logits(original, ids(name)), logits(Models.load(out), ids(name)));
    }

    @Test
    void aBfloat16CheckpointIsConvertedToFloat32OnLoad() {
        CausalLm original = Models.load(fixture("tiny-llama"));
        Path out = tmp.resolve("bf16");
        Models.save(original, out, null, ModelFolderWriter.Options.defaults().dtype(ScalarType.BFloat16));
        CausalLm reloaded = Models.load(out);
        Tensor a = original.forward(ids("tiny-llama")), b = reloaded.forward(ids("tiny-llama"));
        assertEquals(ScalarType.Float, b.scalar_type().intern());
        double rel = a.sub(b).norm().item_double() / a.norm().item_double();
        assertTrue(rel < 2e-2, "bf16 weights should change the logits by about bf16 precision, got " + rel);
    }

    @Test
    void aCheckpointMissingATensorNamesIt() throws IOException {
        CausalLm original = Models.load(fixture("tiny-llama"));
        Path out = tmp.resolve("missing");
        Files.createDirectories(out);
        Files.copy(fixture("tiny-llama").resolve("config.json"), out.resolve("config.json"));
        var state = new java.util.LinkedHashMap<>(original.stateDict());
        state.remove("model.layers.1.mlp.up_proj.weight");
        SafetensorsWriter.write(out.resolve("model.safetensors"), state);
        CheckpointException e = assertThrows(CheckpointException.class, () -> Models.load(out));
        assertTrue(e.getMessage().contains("model.layers.1.mlp.up_proj.weight"), e.getMessage());
    }

    @Test
    void aFolderWithoutWeightsSaysWhatWasExpected() throws IOException {
        Path out = tmp.resolve("empty");
        Files.createDirectories(out);
        Files.copy(fixture("tiny-gpt2").resolve("config.json"), out.resolve("config.json"));
        CheckpointException e = assertThrows(CheckpointException.class, () -> Models.load(out));
        assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
    }

    @Test
    void unitEmbeddingOfTheLoadedModelHasUnitRowsExceptThePaddingRow() {
        CausalLm model = Models.load(fixture("tiny-llama-tied"));
        Tensor raw = model.inputEmbeddingWeight().detach();
        Tensor unit = org.tasft.kernel.EmdKernel.unitEmbedding(raw);
        org.bytedeco.pytorch.ScalarTypeOptional none = new org.bytedeco.pytorch.ScalarTypeOptional();
        org.bytedeco.pytorch.Scalar two = new org.bytedeco.pytorch.Scalar(2.0);
        Tensor rawNorms = torch.linalg_vector_norm(raw, two, new long[] {1}, false, none);
        Tensor norms = torch.linalg_vector_norm(unit, two, new long[] {1}, false, none);
        // transformers initialises the padding_idx row (pad_token_id) to zeros; a zero row stays zero.
        Tensor zero = rawNorms.eq(new org.bytedeco.pytorch.Scalar(0.0));
        Tensor expected = torch.where(zero, torch.zeros_like(norms), torch.ones_like(norms));
        double maxErr = norms.sub(expected).abs().max().item_double();
        assertTrue(maxErr < 1e-5, "row norms off by " + maxErr);
    }
}
