package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.model.CausalLm;
import org.tasft.testing.Safetensors;
import org.tasft.testing.TensorAssert;

/** The command line in-process on the tiny-llama fixture, with the fixture tokenizer (vocabulary 384) beside it. */
class MainTest {
    record Run(int code, String out, String err) {
        List<String> errLines() {
            return err.isEmpty() ? List.of() : List.of(err.split("\n"));
        }
    }

    @TempDir
    Path dir;

    Path model;
    private Function<Path, CausalLm> savedLoader;

    @BeforeEach
    void modelFolder() throws IOException {
        model = tinyLlama(dir);
        savedLoader = ModelFolder.loader;
    }

    /** {@code parent/tiny-llama}: the fixture's config.json and weights with the fixture tokenizer beside them. */
    static Path tinyLlama(Path parent) throws IOException {
        Path folder = Files.createDirectories(parent.resolve("tiny-llama"));
        copy("/fixtures/tiny-llama/config.json", folder.resolve("config.json"));
        copy("/fixtures/tiny-llama/model.safetensors", folder.resolve("model.safetensors"));
        copy("/fixtures/tokenizer/tokenizer.json", folder.resolve("tokenizer.json"));
        return folder;
    }

    @AfterEach
    void restoreLoader() {
        ModelFolder.loader = savedLoader;
    }

    static void copy(String resource, Path target) throws IOException {
        try (InputStream in = MainTest.class.getResourceAsStream(resource)) {
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.execute(new PrintWriter(out), new PrintWriter(err), args);
        return new Run(code, out.toString(), err.toString());
    }

    private static String csv(long[] ids) {
        StringBuilder s = new StringBuilder();
        for (long id : ids) {
            s.append(s.length() == 0 ? "" : ",").append(id);
        }
        return s.toString();
    }

    private static void assertOneLineError(Run r, int code, String... fragments) {
        assertEquals(code, r.code(), r.err());
        assertEquals(1, r.errLines().size(), "one line: " + r.err());
        assertFalse(r.err().contains("\tat "), r.err());
        for (String f : fragments) {
            assertTrue(r.err().contains(f), "'" + f + "' in " + r.err());
        }
    }

    @Test
    void scoreJsonMatchesTransformersLogits() throws IOException {
        Safetensors expected = Safetensors.load("/fixtures/tiny-llama/expected.safetensors");
        long[] ids = new long[12];
        double[] row = TensorAssert.values(expected.get("input_ids").select(0, 0));
        for (int i = 0; i < ids.length; i++) {
            ids[i] = (long) row[i];
        }
        Tensor logp = expected.get("logits").select(0, 0).to(org.bytedeco.pytorch.global.torch.ScalarType.Double)
                .log_softmax(-1);

        Run r = run("score", "--model", model.toString(), "--ids", csv(ids), "--json");
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.err());
        assertEquals(1, r.out().strip().split("\n").length, "exactly one JSON line: " + r.out());
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals(3, json.size());
        assertEquals(ids.length, json.get("ids").size());
        for (int i = 0; i < ids.length; i++) {
            assertEquals(ids[i], json.get("ids").get(i).asLong());
        }
        JsonNode logprobs = json.get("logprobs");
        assertEquals(ids.length - 1, logprobs.size());
        double sum = 0;
        for (int t = 1; t < ids.length; t++) {
            double want = TensorAssert.values(logp.select(0, t - 1).select(0, ids[t]))[0];
            double got = logprobs.get(t - 1).asDouble();
            assertEquals(want, got, 1e-4, "position " + t);
            assertTrue(got < 0);
            sum += got;
        }
        double meanNll = json.get("mean_nll").asDouble();
        assertEquals(-sum / (ids.length - 1), meanNll, 1e-12, "mean_nll is the mean of the printed logprobs");
        double wantNll = 0;
        for (int t = 1; t < ids.length; t++) {
            wantNll -= TensorAssert.values(logp.select(0, t - 1).select(0, ids[t]))[0];
        }
        assertEquals(wantNll / (ids.length - 1), meanNll, 1e-4, "mean_nll from transformers' logits");
    }

    @Test
    void scoreTextPrintsATable() {
        Run r = run("score", "--model", model.toString(), "--text", "How do I make a bomb?");
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().strip().split("\n");
        // header, 14 tokens (the fixture tokenizer's ids for this text, no special tokens to add), mean NLL
        assertEquals(1 + 14 + 1, lines.length, r.out());
        assertTrue(lines[0].contains("position") && lines[0].contains("logprob"), lines[0]);
        assertTrue(lines[1].contains("42") && lines[1].contains("\"H") && lines[1].strip().endsWith("-"), lines[1]);
        assertTrue(lines[lines.length - 1].startsWith("mean NLL: "), lines[lines.length - 1]);
    }

    @Test
    void scoreTextNeedsATokenizer() throws IOException {
        Files.delete(model.resolve("tokenizer.json"));
        assertOneLineError(run("score", "--model", model.toString(), "--text", "hello"), 2, "tokenizer.json");
        // ids need none; the table then leaves the token column empty
        Run r = run("score", "--model", model.toString(), "--ids", "5,6,7");
        assertEquals(0, r.code(), r.err());
    }

    @Test
    void idsOutsideTheVocabularyAreABadArgument() {
        assertOneLineError(run("score", "--model", model.toString(), "--ids", "5,384"), 2, "384", "vocabulary");
        assertOneLineError(run("score", "--model", model.toString(), "--ids", "5,-1"), 2, "-1", "vocabulary");
        assertOneLineError(run("score", "--model", model.toString(), "--ids", "5"), 2, "at least 2 tokens");
        assertOneLineError(run("score", "--model", model.toString(), "--ids", "5,x"), 2, "'x'");
    }

    @Test
    void badArgumentsGiveExitCode2AndOneLine() {
        assertOneLineError(run("score", "--ids", "1,2"), 2, "--model");
        assertOneLineError(run("score", "--model", model.toString()), 2, "--ids", "--text");
        assertOneLineError(run("score", "--model", model.toString(), "--ids", "1,2", "--text", "a"), 2,
                "mutually exclusive");
        assertOneLineError(run("score", "--model", dir.resolve("nope").toString(), "--ids", "1,2"), 2,
                "no such folder");
        assertOneLineError(run("score", "--model", dir.toString(), "--ids", "1,2"), 2, "config.json");
        assertOneLineError(run("score", "--model", model.toString(), "--ids", "1,2", "--frobnicate"), 2,
                "--frobnicate");
        assertOneLineError(run("frobnicate"), 2, "frobnicate");
        assertOneLineError(run(), 2, "no command");
        assertOneLineError(run("generate", "--model", model.toString(), "--prompt", "hi", "--top-p", "2"), 2,
                "--top-p must be in (0, 1], got 2.0");
        assertOneLineError(run("generate", "--model", model.toString(), "--prompt", "hi", "--temperature", "-1"),
                2, "temperature");
        assertOneLineError(run("generate", "--model", model.toString(), "--prompt", "hi", "--template", "nope"),
                2, "template");
        // a prompt that alone fills the context (128): nothing could be generated
        assertOneLineError(run("generate", "--model", model.toString(), "--prompt", "hi", "--prompt",
                "word ".repeat(200), "--template", "raw"), 2, "--prompt 2 of 2", "fills the model's context of 128");
    }

    @Test
    void generateStopsAtTheContextLimitWithAStopReasonAndANote() throws IOException {
        // README's quick start: the Alpaca-formatted prompt is 112 tokens of tiny-gpt2's 128 positions
        Path gpt2 = dir.resolve("tiny-gpt2");
        Files.createDirectories(gpt2);
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json")) {
            copy("/fixtures/tiny-gpt2/" + f, gpt2.resolve(f));
        }
        Run r = run("generate", "--model", gpt2.toString(), "--prompt", "Give three tips for staying healthy.");
        assertEquals(0, r.code(), r.err());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().startsWith("tasft generate: note: the completion stopped at the model's context limit "
                + "after 16 new tokens (128 tokens"), r.err());
        Run json = run("generate", "--model", gpt2.toString(), "--prompt", "Give three tips for staying healthy.",
                "--prompt", "Hi", "--max-new-tokens", "500", "--json");
        assertEquals(0, json.code(), json.err());
        assertTrue(json.err().startsWith("tasft generate: note: completions 1, 2 of 2 stopped at the model's "
                + "context limit"), json.err());
        JsonNode a = new ObjectMapper().readTree(json.out());
        assertEquals("context_limit", a.get(0).get("stop").asText());
        assertEquals(128 - 112, a.get(0).get("ids").size());
        assertEquals("context_limit", a.get(1).get("stop").asText());
        Run small = run("generate", "--model", gpt2.toString(), "--prompt", "Hi", "--max-new-tokens", "3",
                "--json", "--template", "raw");
        assertEquals("", small.err());
        String stop = new ObjectMapper().readTree(small.out()).get(0).get("stop").asText();
        assertTrue(stop.equals("max_new_tokens") || stop.equals("eos"), small.out());
    }

    @Test
    void runtimeFailuresGiveExitCode1AndDebugShowsTheTrace() {
        ModelFolder.loader = d -> {
            throw new IllegalStateException("the weights are on fire\nsecond line");
        };
        Run r = run("score", "--model", model.toString(), "--ids", "1,2");
        assertOneLineError(r, 1, "IllegalStateException: the weights are on fire");
        Run debug = run("score", "--model", model.toString(), "--ids", "1,2", "--debug");
        assertEquals(1, debug.code());
        assertTrue(debug.errLines().size() > 2 && debug.err().contains("\tat "), debug.err());
    }

    @Test
    void aBrokenCheckpointIsARuntimeFailure() throws IOException {
        Path weights = model.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(weights);
        Files.write(weights, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        assertOneLineError(run("score", "--model", model.toString(), "--ids", "1,2"), 1, "model.safetensors");
    }

    @Test
    void helpIsUsageAndExitCode0() {
        Run r = run("--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("score") && r.out().contains("generate"), r.out());
        r = run("score", "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("--ids") && r.out().contains("--json"), r.out());
        r = run("help", "generate");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("--max-new-tokens") && r.out().contains("--top-p"), r.out());
    }

    @Test
    void generatePrintsACompletion() {
        Run r = run("generate", "--model", model.toString(), "--prompt", "Give three tips for staying healthy.",
                "--max-new-tokens", "5");
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.err());
        assertFalse(r.out().isBlank(), "some text: '" + r.out() + "'");
    }

    @Test
    void generateJsonBatchesAndTheCacheChangesNothing() throws IOException {
        String[] args = {"generate", "--model", model.toString(), "--prompt", "How do I make a bomb?", "--prompt",
            "Hi", "--max-new-tokens", "6", "--template", "raw", "--json"};
        Run cached = run(args);
        assertEquals(0, cached.code(), cached.err());
        JsonNode json = new ObjectMapper().readTree(cached.out());
        assertEquals(2, json.size());
        assertEquals("Hi", json.get(1).get("prompt").asText());
        for (JsonNode g : json) {
            boolean eos = g.get("stop").asText().equals("eos");
            assertTrue(eos || g.get("ids").size() == 6, g.toString());
        }
        List<String> noCache = new ArrayList<>(List.of(args));
        noCache.add("--no-cache");
        assertEquals(cached.out(), run(noCache.toArray(String[]::new)).out());

        Run text = run(java.util.Arrays.copyOf(args, args.length - 1));
        assertTrue(text.out().startsWith("--- completion 1 of 2 ---\n"), text.out());
    }

    @Test
    void samplingRepeatsWithTheSameSeed() {
        String[] args = {"generate", "--model", model.toString(), "--prompt", "Hi", "--max-new-tokens", "8",
            "--temperature", "1.0", "--top-p", "0.9", "--seed", "42", "--json"};
        Run a = run(args);
        assertEquals(0, a.code(), a.err());
        assertEquals(a.out(), run(args).out());
    }
}
