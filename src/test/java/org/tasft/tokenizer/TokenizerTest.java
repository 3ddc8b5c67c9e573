package org.tasft.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The fixture tokenizer (a 384-token byte-level BPE trained by make_hf_fixtures.py) against HF tokenizers' ids. */
class TokenizerTest {
    static Path fixture() {
        try {
            return Path.of(TokenizerTest.class.getResource("/fixtures/tokenizer/tokenizer.json").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static JsonNode expected() throws IOException {
        try (InputStream in = TokenizerTest.class.getResourceAsStream("/fixtures/tokenizer/expected.json")) {
            return new ObjectMapper().readTree(in);
        }
    }

    private static long[] ids(JsonNode array) {
        long[] ids = new long[array.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = array.get(i).asLong();
        }
        return ids;
    }

    @Test
    void encodeReproducesHuggingFaceIdsAndDecodeRoundTrips() throws IOException {
        JsonNode cases = expected();
        assertEquals(4, cases.size());
        try (Tokenizer tok = Tokenizer.load(fixture())) {
            for (JsonNode c : cases) {
                String text = c.get("text").asText();
                long[] ids = tok.encode(text);
                assertArrayEquals(ids(c.get("ids")), ids, text);
                assertEquals(text, tok.decode(ids), "decode(encode(x)) for " + text);
            }
        }
    }

    @Test
    void unicodeAndEmojiRoundTrip() {
        try (Tokenizer tok = Tokenizer.load(fixture())) {
            String text = "h\u00e9llo w\u00f6rld \uD83D\uDE42";
            assertEquals(text, tok.decode(tok.encode(text)));
        }
    }

    @Test
    void loadsFromTheFolderAndKnowsTheVocabularyAndSpecialTokens() {
        try (Tokenizer tok = Tokenizer.load(fixture().getParent())) {
            assertEquals(384, tok.vocabSize());
            assertEquals(OptionalLong.of(0), tok.specialTokenId("<s>"));
            assertEquals(OptionalLong.of(1), tok.specialTokenId("</s>"));
            assertEquals(OptionalLong.of(2), tok.specialTokenId("<pad>"));
            // the fixture folder has no tokenizer_config.json or config.json: no special ids are known
            assertTrue(tok.bosId().isEmpty());
            assertTrue(tok.eosIds().isEmpty());
        }
    }

    @Test
    void specialTokensAreNotAddedAndAreKeptOrSkippedInDecode() {
        try (Tokenizer tok = Tokenizer.load(fixture())) {
            long[] hello = tok.encode("hello");
            long[] withEos = new long[hello.length + 1];
            System.arraycopy(hello, 0, withEos, 0, hello.length);
            withEos[hello.length] = 1;
            assertEquals("hello</s>", tok.decode(withEos));
            assertEquals("hello", tok.decode(withEos, true));
            // the special token's text is recognised as that token
            assertArrayEquals(withEos, tok.encode("hello</s>"));
            // no post-processor in the fixture: asking for special tokens changes nothing
            assertArrayEquals(hello, tok.encode("hello", true));
        }
    }

    @Test
    void longTextsAreNotTruncated() {
        try (Tokenizer tok = Tokenizer.load(fixture())) {
            String text = "Give three tips for staying healthy. ".repeat(200);
            long[] ids = tok.encode(text);
            assertTrue(ids.length > 1000, "length " + ids.length);
            assertEquals(text, tok.decode(ids));
        }
    }

    @Test
    void specialIdsComeFromTokenizerConfigAndModelConfig(@TempDir Path dir) throws IOException {
        Files.copy(fixture(), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("tokenizer_config.json"),
                "{\"bos_token\": {\"content\": \"<s>\", \"__type\": \"AddedToken\"}, \"eos_token\": \"</s>\","
                        + " \"pad_token\": null}");
        Files.writeString(dir.resolve("config.json"),
                "{\"bos_token_id\": 5, \"eos_token_id\": [1, 7], \"pad_token_id\": 2}");
        try (Tokenizer tok = Tokenizer.load(dir)) {
            assertEquals(OptionalLong.of(0), tok.bosId(), "the tokenizer's own BOS wins");
            assertEquals(List.of(1L, 7L), tok.eosIds(), "every EOS id, without repeats");
            assertEquals(OptionalLong.of(1), tok.eosId());
            assertEquals(OptionalLong.of(2), tok.padId(), "the model's pad id when the tokenizer has none");
        }
    }

    @Test
    void missingFileIsAClearError(@TempDir Path dir) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains(dir.resolve("tokenizer.json").toString()), e.getMessage());
        assertTrue(e.getMessage().contains("not found"), e.getMessage());
    }

    @Test
    void malformedFilesAreClearErrors(@TempDir Path dir) throws IOException {
        Path broken = dir.resolve("tokenizer.json");
        Files.writeString(broken, "{\"model\": {\"vocab\": ");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(broken));
        assertTrue(e.getMessage().contains(broken.toString()) && e.getMessage().contains("malformed"),
                e.getMessage());

        Files.writeString(broken, "{\"hello\": 1}");
        e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(broken));
        assertTrue(e.getMessage().contains(broken.toString()), e.getMessage());

        // valid JSON with a vocabulary, but not something the tokenizers library accepts
        Files.writeString(broken, "{\"model\": {\"type\": \"Nonsense\", \"vocab\": {\"a\": 0}}}");
        e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(broken));
        assertTrue(e.getMessage().contains(broken.toString()), e.getMessage());
    }

    @Test
    void decodeRefusesIdsOutsideTheVocabulary() {
        try (Tokenizer tok = Tokenizer.load(fixture())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> tok.decode(new long[] {5, 384}));
            assertTrue(e.getMessage().contains("384"), e.getMessage());
        }
    }
}
