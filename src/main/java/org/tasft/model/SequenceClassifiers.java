package org.tasft.model;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.tasft.checkpoint.Checkpoints;
import org.tasft.io.InputFiles;

/** Loads Hugging Face sequence-classification checkpoints by their config's {@code architectures}. */
public final class SequenceClassifiers {
    /** The decoder classes: a causal LM's trunk plus a {@code score} head on the last non-padding token. */
    static final List<String> DECODER_CLASSES = List.of("LlamaForSequenceClassification",
            "MistralForSequenceClassification", "Qwen2ForSequenceClassification", "GPT2ForSequenceClassification");
    /** The encoder class: DeBERTa-v2/v3 with its context pooler on the first token. */
    static final String DEBERTA_V2_CLASS = "DebertaV2ForSequenceClassification";

    private static final ObjectMapper JSON = new ObjectMapper();

    private SequenceClassifiers() {
    }

    /** A model folder: config.json, the safetensors weights (single file or sharded index). */
    public static SequenceClassifier load(Path dir) {
        Path configFile = dir.resolve(Checkpoints.CONFIG_FILE);
        if (!Files.exists(configFile)) {
            throw new IllegalArgumentException(dir + ": no config.json (expected a Hugging Face model folder)");
        }
        String text = InputFiles.readUtf8(configFile, null); // a folder, a FIFO, no permission, not UTF-8
        JsonNode json;
        try {
            json = JSON.readTree(text);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(configFile + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (json == null || !json.isObject()) {
            throw new IllegalArgumentException(configFile + ": a model config must be a JSON object");
        }
        String architecture = architecture(json, configFile);
        if (architecture.equals(DEBERTA_V2_CLASS)) {
            return DebertaV2Classifier.load(dir, json, configFile.toString());
        }
        return DecoderSequenceClassifier.load(dir, architecture, text, json, configFile.toString());
    }

    private static String architecture(JsonNode json, Path configFile) {
        List<String> supported = new ArrayList<>(DECODER_CLASSES);
        supported.add(DEBERTA_V2_CLASS);
        for (JsonNode n : json.path("architectures")) {
            if (supported.contains(n.asText())) {
                return n.asText();
            }
        }
        throw new IllegalArgumentException(configFile + ": not a supported sequence-classification model "
                + "(architectures " + json.get("architectures") + "); supported: " + String.join(", ", supported));
    }

    /**
     * Label names in id order, as transformers reads them: {@code id2label} when present (its size is num_labels),
     * else {@code num_labels} (default 2) labels {@code LABEL_i}.
     */
    static List<String> labels(JsonNode json, String source) {
        JsonNode id2label = json.get("id2label");
        List<String> out = new ArrayList<>();
        if (id2label != null && id2label.isObject() && id2label.size() > 0) {
            Map<Integer, String> byId = new TreeMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = id2label.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                try {
                    byId.put(Integer.parseInt(e.getKey().strip()), e.getValue().asText());
                } catch (NumberFormatException ex) {
                    throw new IllegalArgumentException(source + ": id2label key '" + e.getKey() + "' is not a number");
                }
            }
            int expected = 0;
            for (Map.Entry<Integer, String> e : byId.entrySet()) {
                if (e.getKey() != expected++) {
                    throw new IllegalArgumentException(source + ": id2label ids must be 0.." + (byId.size() - 1)
                            + ", got " + byId.keySet());
                }
                out.add(e.getValue());
            }
            return out;
        }
        int n = json.path("num_labels").asInt(2);
        if (n < 1) {
            throw new IllegalArgumentException(source + ": num_labels must be >= 1, got " + n);
        }
        for (int i = 0; i < n; i++) {
            out.add("LABEL_" + i);
        }
        return out;
    }
}
