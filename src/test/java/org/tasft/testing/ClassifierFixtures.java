package org.tasft.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.tasft.checkpoint.SafetensorsWriter;

/**
 * Sequence-classification folders made from the causal LM fixtures: the LM's tensors without its head, plus
 * {@code score.weight} = the given rows of the head, so that the classifier's logits are the causal LM's logits of
 * those vocabulary entries at the pooled position.
 */
public final class ClassifierFixtures {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ClassifierFixtures() {
    }

    /**
     * @param labels label names, one per row (null: row&lt;id&gt;)
     * @param padTokenId the config's pad_token_id, or null for none
     */
    public static Path decoderFolder(String fixture, String architecture, Integer padTokenId, long[] rows,
            String[] labels, Path dir) throws IOException {
        Safetensors source = Safetensors.load("/fixtures/" + fixture + "/model.safetensors");
        ObjectNode config = (ObjectNode) JSON.readTree(resourceText("/fixtures/" + fixture + "/config.json"));
        boolean gpt2 = architecture.startsWith("GPT2");
        String head = source.names().contains("lm_head.weight") ? "lm_head.weight"
                : gpt2 ? "transformer.wte.weight" : "model.embed_tokens.weight";
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (String name : source.names()) {
            if (!name.equals("lm_head.weight")) {
                tensors.put(name, source.get(name));
            }
        }
        tensors.put("score.weight", source.get(head).index_select(0, torch.tensor(rows)).contiguous());
        config.putArray("architectures").add(architecture);
        ObjectNode id2label = config.putObject("id2label");
        for (int i = 0; i < rows.length; i++) {
            id2label.put(Integer.toString(i), labels == null ? "row" + rows[i] : labels[i]);
        }
        config.remove("tie_word_embeddings");
        if (padTokenId == null) {
            config.remove("pad_token_id");
        } else {
            config.put("pad_token_id", padTokenId);
        }
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), config.toPrettyString());
        SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors);
        return dir;
    }

    public static String resourceText(String resource) {
        try (InputStream in = ClassifierFixtures.class.getResourceAsStream(resource)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Copies a class-path resource to a file. */
    public static void copy(String resource, Path target) throws IOException {
        try (InputStream in = ClassifierFixtures.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("no resource " + resource);
            }
            Files.createDirectories(target.toAbsolutePath().getParent());
            Files.copy(in, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
