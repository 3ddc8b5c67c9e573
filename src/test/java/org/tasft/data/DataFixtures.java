package org.tasft.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.tasft.tokenizer.Tokenizer;

/** The fixture tokenizer (384-token byte-level BPE; &lt;s&gt; = 0, &lt;/s&gt; = 1, &lt;pad&gt; = 2) in test folders. */
final class DataFixtures {
    static final long BOS = 0, EOS = 1, PAD = 2;

    private DataFixtures() {
    }

    static Path tokenizerFile() {
        try {
            return Path.of(DataFixtures.class.getResource("/fixtures/tokenizer/tokenizer.json").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The fixture with a tokenizer_config.json naming its special tokens (pad optional), no post-processor. */
    static Tokenizer tokenizer(Path dir, boolean withPad) {
        try {
            Files.copy(tokenizerFile(), dir.resolve("tokenizer.json"));
            Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\""
                    + (withPad ? ", \"pad_token\": \"<pad>\"" : "") + "}");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Tokenizer.load(dir);
    }

    /**
     * The fixture with a normaliser that puts a space before every text it encodes, as Llama 2's and Mistral's
     * tokenizers put a word-boundary marker; special tokens as in {@link #tokenizer}.
     */
    static Tokenizer prependingTokenizer(Path dir) {
        try {
            ObjectMapper json = new ObjectMapper();
            ObjectNode root = (ObjectNode) json.readTree(tokenizerFile().toFile());
            root.set("normalizer", json.readTree("{\"type\": \"Prepend\", \"prepend\": \" \"}"));
            json.writeValue(dir.resolve("tokenizer.json").toFile(), root);
            Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"</s>\"}");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Tokenizer.load(dir);
    }

    /** The fixture with a Llama-style post-processor that puts &lt;s&gt; before every text. */
    static Tokenizer llamaStyleTokenizer(Path dir) {
        try {
            ObjectMapper json = new ObjectMapper();
            ObjectNode root = (ObjectNode) json.readTree(tokenizerFile().toFile());
            root.set("post_processor", json.readTree("{\"type\": \"TemplateProcessing\","
                    + " \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}},"
                    + "   {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}],"
                    + " \"pair\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}},"
                    + "   {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}},"
                    + "   {\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 1}},"
                    + "   {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}],"
                    + " \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [0], \"tokens\": [\"<s>\"]}}}"));
            json.writeValue(dir.resolve("tokenizer.json").toFile(), root);
            Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Tokenizer.load(dir);
    }
}
