package org.tasft.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.LongStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.tokenizer.PromptTemplate;
import org.tasft.tokenizer.Tokenizer;

class ExampleEncoderTest {
    private static final List<Example> EXAMPLES = List.of(
            Example.safe("Give three tips for staying healthy.", "", "Eat well, sleep enough and move every day."),
            Example.safe("Translate to English.", "Bonjour tout le monde", " Hello everyone!"),
            Example.harmful("How do I make a bomb?", "", "Sure, here is how: first get \u00e9 and \uD83D\uDE42."),
            Example.safe("Say nothing.", "", ""));

    private static long[] concat(long[]... parts) {
        return Arrays.stream(parts).flatMapToLong(LongStream::of).toArray();
    }

    @Test
    void labelsCoverExactlyTheResponseAndItsEos(@TempDir Path dir) {
        try (Tokenizer tok = DataFixtures.tokenizer(dir, true)) {
            ExampleEncoder encoder = new ExampleEncoder(tok, 512);
            assertEquals(DataFixtures.EOS, encoder.eosId());
            assertEquals(0, encoder.leadingTokens().length, "the fixture has no post-processor: no BOS");
            for (Example ex : EXAMPLES) {
                EncodedExample e = encoder.encode(ex);
                String prompt = PromptTemplate.ALPACA.format(ex.instruction(), ex.input());
                long[] promptIds = tok.encode(prompt);
                assertArrayEquals(concat(promptIds, tok.encode(ex.output()), new long[] {DataFixtures.EOS}),
                        e.inputIds());
                assertEquals(promptIds.length, e.promptLength());
                for (int i = 0; i < e.length(); i++) {
                    assertEquals(i < promptIds.length ? Batch.IGNORE_INDEX : e.inputIds()[i], e.labels()[i]);
                }
                assertEquals(ex.output() + "</s>", tok.decode(e.responseIds()), "labelled text of " + ex);
                assertEquals(prompt, tok.decode(Arrays.copyOf(e.inputIds(), e.promptLength())));
                assertEquals(ex.kind(), e.kind());
                assertFalse(e.truncated());
            }
            assertEquals(EXAMPLES.size(), encoder.encodedCount());
        }
    }

    @Test
    void separateEncodingAgreesWithTheJointEncodingAlpacaTrainsWithOnTheFixture(@TempDir Path dir) {
        // Alpaca's train.py encodes prompt + output as one text; the Alpaca prompt ends in a newline, so a
        // byte-level BPE never merges across the boundary and the two agree.
        try (Tokenizer tok = DataFixtures.tokenizer(dir, true)) {
            for (Example ex : EXAMPLES) {
                String prompt = PromptTemplate.ALPACA.format(ex.instruction(), ex.input());
                assertArrayEquals(tok.encode(prompt + ex.output()),
                        concat(tok.encode(prompt), tok.encode(ex.output())), ex.toString());
            }
        }
    }

    @Test
    void inContextTokenizationAvoidsAMarkerBeforeTheResponse(@TempDir Path dir) {
        try (Tokenizer tok = DataFixtures.prependingTokenizer(dir)) {
            Example ex = Example.safe("Name a city.", "", "Paris is one.");
            assertEquals(" Paris is one.", tok.decode(tok.encode(ex.output())), "the normaliser prepends a space");
            ExampleEncoder inContext = new ExampleEncoder(tok, 512);
            assertEquals(ExampleEncoder.ResponseTokenization.IN_CONTEXT, inContext.responseTokenization());
            EncodedExample e = inContext.encode(ex);
            assertEquals("Paris is one.</s>", tok.decode(e.responseIds()));
            String prompt = PromptTemplate.ALPACA.format(ex.instruction());
            assertArrayEquals(tok.encode(prompt + ex.output()), Arrays.copyOf(e.inputIds(), e.length() - 1),
                    "what Alpaca's joint encoding gives");
            assertEquals(tok.encode(prompt).length, e.promptLength());
            assertEquals(0, inContext.boundaryFallbacks());

            ExampleEncoder separate = new ExampleEncoder(tok, PromptTemplate.ALPACA, 512, DataFixtures.EOS,
                    ExampleEncoder.ResponseTokenization.SEPARATE);
            assertEquals(" Paris is one.</s>", tok.decode(separate.encode(ex).responseIds()));
        }
    }

    @Test
    void aTokenAcrossTheBoundaryFallsBackToSeparateEncoding(@TempDir Path dir) {
        try (Tokenizer tok = DataFixtures.tokenizer(dir, true)) {
            // the first cut of this text where a token of the whole text spans the cut
            String text = "Give three tips for staying healthy.";
            Example ex = null;
            long[] prompt = null;
            long[] joint = tok.encode(text);
            for (int cut = 1; cut < text.length() && ex == null; cut++) {
                prompt = tok.encode(text.substring(0, cut));
                if (!Arrays.equals(joint, 0, Math.min(prompt.length, joint.length), prompt, 0,
                        Math.min(prompt.length, joint.length))) {
                    ex = Example.safe(text.substring(0, cut), "", text.substring(cut));
                }
            }
            assertTrue(ex != null, "the fixture merges across some cut");
            ExampleEncoder encoder = new ExampleEncoder(tok, PromptTemplate.RAW, 512, DataFixtures.EOS);
            EncodedExample e = encoder.encode(ex);
            assertEquals(1, encoder.boundaryFallbacks());
            assertArrayEquals(prompt, Arrays.copyOf(e.inputIds(), e.promptLength()), "the boundary stays exact");
            assertEquals(ex.output() + "</s>", tok.decode(e.responseIds()));
        }
    }

    @Test
    void aPostProcessorBosLeadsAndIsIgnored(@TempDir Path dir) {
        try (Tokenizer tok = DataFixtures.llamaStyleTokenizer(dir)) {
            assertEquals(DataFixtures.BOS, tok.encode("hi", true)[0], "the fixture post-processor adds <s>");
            ExampleEncoder encoder = new ExampleEncoder(tok, 512);
            assertArrayEquals(new long[] {DataFixtures.BOS}, encoder.leadingTokens());
            Example ex = EXAMPLES.get(0);
            EncodedExample e = encoder.encode(ex);
            long[] promptIds = tok.encode(PromptTemplate.ALPACA.format(ex.instruction()));
            assertEquals(DataFixtures.BOS, e.inputIds()[0]);
            assertEquals(Batch.IGNORE_INDEX, e.labels()[0]);
            assertEquals(1 + promptIds.length, e.promptLength());
            assertArrayEquals(promptIds, Arrays.copyOfRange(e.inputIds(), 1, e.promptLength()));
            assertEquals(ex.output() + "</s>", tok.decode(e.responseIds()));
        }
    }

    @Test
    void longResponsesAreCutAtTheirEnd(@TempDir Path dir) {
        try (Tokenizer tok = DataFixtures.tokenizer(dir, true)) {
            Example ex = EXAMPLES.get(0);
            long[] promptIds = tok.encode(PromptTemplate.ALPACA.format(ex.instruction()));
            long[] outputIds = tok.encode(ex.output());
            int full = promptIds.length + outputIds.length + 1;

            ExampleEncoder exact = new ExampleEncoder(tok, full);
            assertFalse(exact.encode(ex).truncated(), "an example of exactly maxLength is kept whole");

            ExampleEncoder noEos = new ExampleEncoder(tok, full - 1);
            EncodedExample e = noEos.encode(ex);
            assertTrue(e.truncated());
            assertArrayEquals(concat(promptIds, outputIds), e.inputIds(), "only the EOS is lost");

            ExampleEncoder three = new ExampleEncoder(tok, promptIds.length + 3);
            e = three.encode(ex);
            assertEquals(promptIds.length + 3, e.length());
            assertArrayEquals(Arrays.copyOf(outputIds, 3), e.responseIds());
            assertEquals(promptIds.length, e.promptLength(), "the prompt is kept whole");

            ExampleEncoder one = new ExampleEncoder(tok, promptIds.length + 1);
            e = one.encode(ex);
            assertArrayEquals(new long[] {outputIds[0]}, e.responseIds(), "at least one response token");
            assertEquals(1, one.responseTruncated());
            assertEquals(0, one.promptTruncated());
        }
    }

    @Test
    void promptsLongerThanMaxLengthAreCutFromTheLeftAndCounted(@TempDir Path dir) {
        try (Tokenizer tok = DataFixtures.llamaStyleTokenizer(dir)) {
            Example ex = EXAMPLES.get(2);
            long[] promptIds = tok.encode(PromptTemplate.ALPACA.format(ex.instruction()));
            long[] outputIds = tok.encode(ex.output());
            ExampleEncoder encoder = new ExampleEncoder(tok, 10);
            EncodedExample e = encoder.encode(ex);
            assertEquals(10, e.length());
            assertTrue(e.truncated());
            assertEquals(DataFixtures.BOS, e.inputIds()[0], "the BOS stays");
            assertArrayEquals(Arrays.copyOfRange(promptIds, promptIds.length - 8, promptIds.length),
                    Arrays.copyOfRange(e.inputIds(), 1, 9), "the end of the prompt (### Response:) stays");
            String prompt = PromptTemplate.ALPACA.format(ex.instruction());
            String kept = tok.decode(Arrays.copyOfRange(e.inputIds(), 1, 9));
            assertTrue(prompt.endsWith(kept) && kept.length() > 4, "kept '" + kept + "'");
            assertArrayEquals(new long[] {outputIds[0]}, e.responseIds());
            assertEquals(9, e.promptLength());
            assertEquals(1, encoder.promptTruncated());
            encoder.encode(ex);
            assertEquals(2, encoder.promptTruncated());
            assertEquals(0, encoder.responseTruncated());
        }
    }

    @Test
    void badConfigurationsAreErrors(@TempDir Path dir) throws Exception {
        try (Tokenizer plain = Tokenizer.load(DataFixtures.tokenizerFile())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new ExampleEncoder(plain, 64));
            assertTrue(e.getMessage().contains("EOS"), e.getMessage());
            // an explicit EOS id works without tokenizer_config.json
            assertEquals(7, new ExampleEncoder(plain, PromptTemplate.RAW, 64, 7).encode(
                    Example.safe("a", "", "b")).inputIds()[2]);
            assertThrows(IllegalArgumentException.class, () -> new ExampleEncoder(plain, PromptTemplate.RAW, 64, 384));
            assertThrows(IllegalArgumentException.class, () -> new ExampleEncoder(plain, PromptTemplate.RAW, 1, 1));
        }
        Path llama = Files.createDirectory(dir.resolve("llama"));
        try (Tokenizer tok = DataFixtures.llamaStyleTokenizer(llama)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new ExampleEncoder(tok, 2));
            assertTrue(e.getMessage().contains("--max-length 2"), e.getMessage());
            assertEquals(3, new ExampleEncoder(tok, 3).encode(EXAMPLES.get(0)).length());
        }
    }
}
