package org.tasft.tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.tasft.io.InputFiles;

/**
 * A Hugging Face fast tokenizer (tokenizer.json) run by the Rust tokenizers library through DJL, offline.
 *
 * <p>{@link #encode(String)} adds no special tokens: a caller that wants what transformers' {@code tokenizer(text)}
 * gives (the tokenizer's post-processor, e.g. Llama's BOS) asks with {@link #encode(String, boolean)}. Truncation and
 * padding are off: DJL would otherwise cut every text at 512 tokens when tokenizer.json sets no limit.
 *
 * <p>The special ids come from the files next to tokenizer.json, when present: tokenizer_config.json and
 * special_tokens_map.json name the tokens (as a string or an {@code {"content": ...}} object); config.json and
 * generation_config.json give {@code bos_token_id}, {@code eos_token_id} (a number or a list) and
 * {@code pad_token_id}. The tokenizer's own files win for BOS and PAD; every EOS id found anywhere stops generation.
 */
public final class Tokenizer implements AutoCloseable {
    /** The tokenizer file's name in a model folder. */
    public static final String FILE_NAME = "tokenizer.json";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HuggingFaceTokenizer tokenizer;
    private final Path file;
    private final int vocabSize;
    private final Map<String, Long> specialByContent;
    private final OptionalLong bosId;
    private final List<Long> eosIds;
    private final OptionalLong padId;

    private Tokenizer(HuggingFaceTokenizer tokenizer, Path file, int vocabSize, Map<String, Long> specialByContent,
            OptionalLong bosId, List<Long> eosIds, OptionalLong padId) {
        this.tokenizer = tokenizer;
        this.file = file;
        this.vocabSize = vocabSize;
        this.specialByContent = specialByContent;
        this.bosId = bosId;
        this.eosIds = eosIds;
        this.padId = padId;
    }

    /**
     * Loads a tokenizer.json, given as the file or as the folder holding it (a Hugging Face model folder).
     *
     * @throws IllegalArgumentException naming the file when it is missing, not JSON or not a tokenizer
     */
    public static Tokenizer load(Path fileOrFolder) {
        Path file = Files.isDirectory(fileOrFolder) ? fileOrFolder.resolve(FILE_NAME) : fileOrFolder;
        if (!Files.exists(file)) {
            throw new IllegalArgumentException("tokenizer file not found: " + file);
        }
        InputFiles.requireReadableFile(file, null); // a folder, a FIFO (reading it would block), no permission
        JsonNode root = readJson(file);
        if (!root.isObject() || !root.path("model").isObject()) {
            throw new IllegalArgumentException("not a Hugging Face tokenizer file (no \"model\" object): " + file);
        }
        Map<String, Long> vocabulary = vocabulary(root, file);
        Map<String, Long> added = new HashMap<>();
        for (JsonNode token : root.path("added_tokens")) {
            added.put(token.path("content").asText(), token.path("id").asLong());
        }
        long maxId = -1;
        for (long id : vocabulary.values()) {
            maxId = Math.max(maxId, id);
        }
        for (long id : added.values()) {
            maxId = Math.max(maxId, id);
        }
        Map<String, Long> byContent = new HashMap<>(vocabulary);
        byContent.putAll(added);

        Path folder = file.toAbsolutePath().getParent();
        SpecialIds special = new SpecialIds();
        // The tokenizer's own view first, then the model's.
        for (String name : List.of("tokenizer_config.json", "special_tokens_map.json")) {
            JsonNode config = readOptionalJson(folder.resolve(name));
            if (config != null) {
                special.addTokens(config, byContent);
            }
        }
        for (String name : List.of("generation_config.json", "config.json")) {
            JsonNode config = readOptionalJson(folder.resolve(name));
            if (config != null) {
                special.addIds(config);
            }
        }

        // DJL phones home (telemetry) when it believes it runs on EC2, unless told not to; this project is offline.
        if (System.getenv("OPT_OUT_TRACKING") == null && System.getProperty("OPT_OUT_TRACKING") == null) {
            System.setProperty("OPT_OUT_TRACKING", "true");
        }
        HuggingFaceTokenizer hf;
        try (InputStream in = Files.newInputStream(file)) {
            hf = HuggingFaceTokenizer.newInstance(in, Map.of(
                    "addSpecialTokens", "false",
                    "truncation", "false",
                    "padding", "false"));
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read tokenizer file " + file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("malformed tokenizer file " + file + ": " + e.getMessage(), e);
        }
        return new Tokenizer(hf, file, Math.toIntExact(maxId + 1), Collections.unmodifiableMap(added),
                special.bos, List.copyOf(special.eos), special.pad);
    }

    private static Map<String, Long> vocabulary(JsonNode root, Path file) {
        JsonNode vocab = root.path("model").path("vocab");
        Map<String, Long> result = new HashMap<>();
        if (vocab.isObject()) { // BPE, WordPiece, WordLevel: {token: id}
            for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                result.put(e.getKey(), e.getValue().asLong());
            }
        } else if (vocab.isArray()) { // Unigram: [[piece, score], ...], the id is the index
            for (int i = 0; i < vocab.size(); i++) {
                result.put(vocab.get(i).path(0).asText(), (long) i);
            }
        } else {
            throw new IllegalArgumentException("not a Hugging Face tokenizer file (no model vocabulary): " + file);
        }
        return result;
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("malformed JSON in " + file + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** A file beside tokenizer.json that may be absent; present but a FIFO or unreadable, it is an error. */
    private static JsonNode readOptionalJson(Path file) {
        if (!Files.exists(file)) {
            return null;
        }
        InputFiles.requireReadableFile(file, null);
        return readJson(file);
    }

    /** Collects special ids: the first source to name BOS or PAD wins; EOS ids accumulate. */
    private static final class SpecialIds {
        OptionalLong bos = OptionalLong.empty();
        OptionalLong pad = OptionalLong.empty();
        final Set<Long> eos = new LinkedHashSet<>();

        void addTokens(JsonNode config, Map<String, Long> byContent) {
            OptionalLong b = tokenId(config.get("bos_token"), byContent);
            if (bos.isEmpty()) {
                bos = b;
            }
            tokenId(config.get("eos_token"), byContent).ifPresent(eos::add);
            OptionalLong p = tokenId(config.get("pad_token"), byContent);
            if (pad.isEmpty()) {
                pad = p;
            }
        }

        void addIds(JsonNode config) {
            if (bos.isEmpty() && config.path("bos_token_id").canConvertToLong()) {
                bos = OptionalLong.of(config.get("bos_token_id").asLong());
            }
            JsonNode e = config.path("eos_token_id");
            if (e.isArray()) {
                e.forEach(id -> eos.add(id.asLong()));
            } else if (e.canConvertToLong()) {
                eos.add(e.asLong());
            }
            if (pad.isEmpty() && config.path("pad_token_id").canConvertToLong()) {
                pad = OptionalLong.of(config.get("pad_token_id").asLong());
            }
        }

        private static OptionalLong tokenId(JsonNode token, Map<String, Long> byContent) {
            if (token == null || token.isNull()) {
                return OptionalLong.empty();
            }
            String content = token.isTextual() ? token.asText() : token.path("content").asText(null);
            Long id = content == null ? null : byContent.get(content);
            return id == null ? OptionalLong.empty() : OptionalLong.of(id);
        }
    }

    /** The token ids of a text, without special tokens. */
    public long[] encode(String text) {
        return encode(text, false);
    }

    /**
     * The token ids of a text; with {@code addSpecialTokens} the tokenizer's post-processor adds what it is
     * configured to (Llama: BOS first), as transformers' {@code tokenizer(text)} does.
     */
    public long[] encode(String text, boolean addSpecialTokens) {
        return tokenizer.encode(text, addSpecialTokens, false).getIds();
    }

    /**
     * The ids and token type ids of a text pair, as transformers' {@code tokenizer(text, pair)} gives them: the
     * post-processor's pair template (e.g. {@code [CLS] text [SEP] pair [SEP]}) with {@code addSpecialTokens}.
     */
    public Encoding encodePair(String text, String pair, boolean addSpecialTokens) {
        ai.djl.huggingface.tokenizers.Encoding e = tokenizer.encode(text, pair, addSpecialTokens, false);
        return new Encoding(e.getIds(), e.getTypeIds());
    }

    /** Token ids with their token type (segment) ids, of the same length. */
    public record Encoding(long[] ids, long[] typeIds) {
    }

    /** The text of token ids, special tokens included. */
    public String decode(long[] ids) {
        return decode(ids, false);
    }

    /** The text of token ids; {@code skipSpecialTokens} leaves out added special tokens such as EOS. */
    public String decode(long[] ids, boolean skipSpecialTokens) {
        for (long id : ids) {
            if (id < 0 || id >= vocabSize) {
                throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + vocabSize
                        + ") of " + file);
            }
        }
        return tokenizer.decode(ids, skipSpecialTokens);
    }

    /** Number of ids the tokenizer can produce: the largest id (vocabulary or added token) plus one. */
    public int vocabSize() {
        return vocabSize;
    }

    /** The id of an added (special) token such as {@code </s>}, if the tokenizer has it. */
    public OptionalLong specialTokenId(String content) {
        Long id = specialByContent.get(content);
        return id == null ? OptionalLong.empty() : OptionalLong.of(id);
    }

    public OptionalLong bosId() {
        return bosId;
    }

    /** The first EOS id found (tokenizer files first, then generation_config.json and config.json). */
    public OptionalLong eosId() {
        return eosIds.isEmpty() ? OptionalLong.empty() : OptionalLong.of(eosIds.get(0));
    }

    /** Every EOS id found; generation stops at any of them. */
    public List<Long> eosIds() {
        return eosIds;
    }

    public OptionalLong padId() {
        return padId;
    }

    /** The tokenizer.json this was loaded from. */
    public Path file() {
        return file;
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
