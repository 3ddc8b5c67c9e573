package org.tasft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tasft.checkpoint.CheckpointException;
import org.tasft.checkpoint.SafetensorsWriter;
import org.tasft.testing.ClassifierFixtures;
import org.tasft.testing.Safetensors;

/**
 * Sequence classifiers. Decoders: a classification checkpoint made from a causal LM fixture whose {@code score} rows
 * are rows of the LM head, so that its logits must equal the causal LM's logits of those vocabulary entries at the
 * pooled position (our own model math is the oracle). DeBERTa-v2: the numpy transcription of transformers'
 * DebertaV2ForSequenceClassification in fixtures/make_deberta_fixtures.py.
 */
class SequenceClassifierTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long[] SCORE_ROWS = {5, 9, 300};

    static Path classificationFolder(String fixture, String architecture, Integer padTokenId, Path dir)
            throws IOException {
        return ClassifierFixtures.decoderFolder(fixture, architecture, padTokenId, SCORE_ROWS, null, dir);
    }

    static CausalLm causalLm(String fixture) {
        String dir = "/fixtures/" + fixture + "/";
        ModelConfig config = ModelConfig.parse(resourceText(dir + "config.json"), fixture);
        Safetensors weights = Safetensors.load(dir + "model.safetensors");
        return Models.fromTensors(config, weights::get, weights.names());
    }

    /** The causal LM's logits of SCORE_ROWS at position {@code at} of {@code ids}, run alone. */
    static float[] expected(CausalLm lm, long[] ids, int at) {
        try (NoGradGuard g = new NoGradGuard()) {
            Tensor logits = lm.forward(torch.tensor(ids).view(1, -1));
            float[] out = new float[SCORE_ROWS.length];
            for (int i = 0; i < SCORE_ROWS.length; i++) {
                out[i] = logits.select(0, 0).select(0, at).select(0, SCORE_ROWS[i]).item_float();
            }
            return out;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama:LlamaForSequenceClassification",
        "tiny-llama-tied:LlamaForSequenceClassification", "tiny-llama:MistralForSequenceClassification",
        "tiny-gpt2:GPT2ForSequenceClassification"})
    void decoderLogitsAreTheLmHeadRowsAtTheLastNonPadToken(String spec, @TempDir Path tmp) throws IOException {
        String fixture = spec.split(":")[0];
        String architecture = spec.split(":")[1];
        int pad = 2;
        Path dir = classificationFolder(fixture, architecture, pad, tmp.resolve("clf"));
        if (architecture.startsWith("Mistral")) {
            ObjectNode c = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
            c.put("model_type", "mistral");
            Files.writeString(dir.resolve("config.json"), c.toString());
        }
        SequenceClassifier clf = SequenceClassifiers.load(dir);
        assertEquals(architecture, clf.architecture());
        assertEquals(List.of("row5", "row9", "row300"), clf.labels());
        CausalLm lm = causalLm(fixture);

        // different lengths (a right-padded batch), a text ending in the pad id (transformers pools before it), a
        // single token, and a sequence of pad ids only (pooled at position 0)
        List<long[]> inputs = List.of(new long[] {7, 33, 120, 45, 9, 250, 18}, new long[] {3, 4},
                new long[] {40, 41, 42, pad, pad}, new long[] {11}, new long[] {pad, pad, pad});
        int[] pooled = {6, 1, 2, 0, 0};
        List<SequenceClassifier.Input> in = new ArrayList<>();
        inputs.forEach(ids -> in.add(SequenceClassifier.Input.of(ids)));
        float[][] batched = clf.classify(in);
        for (int i = 0; i < inputs.size(); i++) {
            float[] want = expected(lm, inputs.get(i), pooled[i]);
            for (int l = 0; l < want.length; l++) {
                assertEquals(want[l], batched[i][l], 2e-5 * (1 + Math.abs(want[l])),
                        spec + " input " + i + " label " + l);
            }
            float[] alone = clf.classify(List.of(in.get(i)))[0];
            for (int l = 0; l < want.length; l++) {
                assertEquals(want[l], alone[l], 2e-5 * (1 + Math.abs(want[l])), spec + " alone " + i);
            }
        }
    }

    @Test
    void withoutAPadIdTheLastTokenIsPooled(@TempDir Path tmp) throws IOException {
        Path dir = classificationFolder("tiny-llama", "LlamaForSequenceClassification", null, tmp.resolve("c"));
        SequenceClassifier clf = SequenceClassifiers.load(dir);
        long[] ids = {40, 41, 42, 2, 2};
        float[] got = clf.classify(List.of(SequenceClassifier.Input.of(ids), SequenceClassifier.Input.of(7)))[0];
        float[] want = expected(causalLm("tiny-llama"), ids, 4);
        for (int l = 0; l < want.length; l++) {
            assertEquals(want[l], got[l], 2e-5 * (1 + Math.abs(want[l])));
        }
    }

    @Test
    void badFoldersAreClearErrors(@TempDir Path tmp) throws IOException {
        Path dir = classificationFolder("tiny-llama", "LlamaForSequenceClassification", 2, tmp.resolve("c"));
        Files.writeString(dir.resolve("config.json"), Files.readString(dir.resolve("config.json"))
                .replace("LlamaForSequenceClassification", "LlamaForTokenClassification"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SequenceClassifiers.load(dir));
        assertTrue(e.getMessage().contains("not a supported sequence-classification model"), e.getMessage());
        assertTrue(e.getMessage().contains("DebertaV2ForSequenceClassification"), e.getMessage());

        Path noHead = classificationFolder("tiny-llama", "LlamaForSequenceClassification", 2, tmp.resolve("n"));
        Safetensors source = Safetensors.load("/fixtures/tiny-llama/model.safetensors");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        source.names().forEach(n -> tensors.put(n, source.get(n)));
        tensors.remove("lm_head.weight");
        SafetensorsWriter.write(noHead.resolve("model.safetensors"), tensors);
        CheckpointException c = assertThrows(CheckpointException.class, () -> SequenceClassifiers.load(noHead));
        assertTrue(c.getMessage().contains("score.weight"), c.getMessage());

        assertThrows(IllegalArgumentException.class, () -> SequenceClassifiers.load(tmp.resolve("missing")));
        SequenceClassifier clf = SequenceClassifiers.load(
                classificationFolder("tiny-llama", "LlamaForSequenceClassification", 2, tmp.resolve("ok")));
        IllegalArgumentException range = assertThrows(IllegalArgumentException.class,
                () -> clf.classify(List.of(SequenceClassifier.Input.of(1, 100000))));
        assertTrue(range.getMessage().contains("outside the model's vocabulary"), range.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-deberta-v3", "tiny-deberta-v2", "tiny-deberta-c2p"})
    void debertaMatchesTheNumpyTranscriptionOfTransformers(String name) throws Exception {
        Path dir = resourcePath("/fixtures/deberta/" + name);
        SequenceClassifier clf = SequenceClassifiers.load(dir);
        assertEquals("DebertaV2ForSequenceClassification", clf.architecture());
        JsonNode cases = JSON.readTree(dir.resolve("expected.json").toFile());
        List<SequenceClassifier.Input> inputs = new ArrayList<>();
        for (JsonNode c : cases) {
            inputs.add(new SequenceClassifier.Input(longs(c.get("ids")), longs(c.get("type_ids"))));
        }
        float[][] batched = clf.classify(inputs);
        for (int i = 0; i < inputs.size(); i++) {
            JsonNode want = cases.get(i).get("logits");
            assertEquals(want.size(), clf.labels().size());
            float[] alone = clf.classify(List.of(inputs.get(i)))[0];
            for (int l = 0; l < want.size(); l++) {
                double w = want.get(l).asDouble();
                assertEquals(w, batched[i][l], 1e-4 * (1 + Math.abs(w)), name + " case " + i + " label " + l);
                assertEquals(w, alone[l], 1e-4 * (1 + Math.abs(w)), name + " alone " + i + " label " + l);
            }
        }
    }

    @Test
    void debertaLogBucketsFollowTransformers() {
        // make_log_bucket_position(rel, bucket_size=256, max_position=512), reference values from the formula
        // ceil(log(|r| / 128) / log(511 / 128) * 127) + 128 with the sign of r, exact below 128
        assertEquals(5, DebertaV2Classifier.logBucket(5, 256, 512));
        assertEquals(-127, DebertaV2Classifier.logBucket(-127, 256, 512));
        assertEquals(128, DebertaV2Classifier.logBucket(128, 256, 512));
        for (long r : new long[] {129, 200, 300, 511, 600, 5000}) {
            double ref = Math.ceil(Math.log(r / 128.0) / Math.log(511 / 128.0) * 127) + 128;
            assertEquals((long) ref, DebertaV2Classifier.logBucket(r, 256, 512), "r=" + r);
            assertEquals(-(long) ref, DebertaV2Classifier.logBucket(-r, 256, 512), "r=-" + r);
        }
    }

    @Test
    void debertaCheckpointErrorsNameTheTensor(@TempDir Path tmp) throws Exception {
        Path src = resourcePath("/fixtures/deberta/tiny-deberta-v3");
        Path dir = Files.createDirectories(tmp.resolve("d"));
        Files.copy(src.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        ObjectNode config = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
        config.put("hidden_size", 32);
        config.put("pooler_hidden_size", 32);
        Files.writeString(dir.resolve("config.json"), config.toString());
        CheckpointException e = assertThrows(CheckpointException.class, () -> SequenceClassifiers.load(dir));
        assertTrue(e.getMessage().contains("has shape"), e.getMessage());

        config = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
        config.put("conv_kernel_size", 3);
        Files.writeString(dir.resolve("config.json"), config.toString());
        IllegalArgumentException conv = assertThrows(IllegalArgumentException.class,
                () -> SequenceClassifiers.load(dir));
        assertTrue(conv.getMessage().contains("conv_kernel_size"), conv.getMessage());
    }

    private static long[] longs(JsonNode array) {
        long[] out = new long[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asLong();
        }
        return out;
    }

    static Path resourcePath(String resource) throws URISyntaxException {
        return Path.of(SequenceClassifierTest.class.getResource(resource).toURI());
    }

    static String resourceText(String resource) {
        try (InputStream in = SequenceClassifierTest.class.getResourceAsStream(resource)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
