package org.tasft.chat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Tokenizer folders for chat-template tests: the fixture byte-level BPE (384 ids, with {@code <s>}, {@code </s>},
 * {@code <pad>}) plus a template's special tokens as added special tokens (ids 384, 385, ...), and a
 * tokenizer_config.json with the template and its special tokens.
 */
public final class ChatFixtures {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ChatFixtures() {
    }

    /** A public template of the test resources by file name ({@code llama-3-instruct.jinja}), verbatim. */
    public static String template(String name) {
        try (InputStream in = ChatFixtures.class.getResourceAsStream(name)) {
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Writes tokenizer.json (with {@code added} special tokens) and tokenizer_config.json into {@code dir}. */
    public static Path folder(Path dir, String template, Map<String, String> specialTokens, List<String> added)
            throws IOException {
        Files.createDirectories(dir);
        ObjectNode tokenizer;
        try (InputStream in = ChatFixtures.class.getResourceAsStream("/fixtures/tokenizer/tokenizer.json")) {
            tokenizer = (ObjectNode) JSON.readTree(in);
        }
        ArrayNode tokens = (ArrayNode) tokenizer.get("added_tokens");
        int id = 384;
        for (String content : added) {
            tokens.addObject().put("id", id++).put("content", content).put("single_word", false)
                    .put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", true);
        }
        Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(tokenizer));
        ObjectNode config = JSON.createObjectNode();
        specialTokens.forEach(config::put);
        if (template != null) {
            config.put("chat_template", template);
        }
        Files.writeString(dir.resolve("tokenizer_config.json"), JSON.writerWithDefaultPrettyPrinter()
                .writeValueAsString(config));
        return dir;
    }
}
