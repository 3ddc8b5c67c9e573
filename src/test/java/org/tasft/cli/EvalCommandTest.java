package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.text.DegenerateText;
import org.tasft.eval.RefusalPhraseJudge;
import org.tasft.eval.Verdict;
import org.tasft.testing.ClassifierFixtures;

/** {@code tasft eval} in-process on the tiny-llama fixture: the output folder, its numbers, and bad arguments. */
class EvalCommandTest {
    record Run(int code, String out, String err) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;
    Path model;
    Path data;

    @BeforeEach
    void files() throws IOException {
        model = dir.resolve("tiny-llama");
        ClassifierFixtures.copy("/fixtures/tiny-llama/config.json", model.resolve("config.json"));
        ClassifierFixtures.copy("/fixtures/tiny-llama/model.safetensors", model.resolve("model.safetensors"));
        ClassifierFixtures.copy("/fixtures/tokenizer/tokenizer.json", model.resolve("tokenizer.json"));
        data = dir.resolve("data");
        for (String f : List.of("stl-eval.json", "advbench.csv", "xstest.csv", "prompts.jsonl", "boolq.jsonl",
                "references.json", "refusal-phrases.txt")) {
            ClassifierFixtures.copy("/eval/" + f, data.resolve(f));
        }
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.execute(new PrintWriter(out), new PrintWriter(err), args);
        return new Run(code, out.toString(), err.toString());
    }

    private String[] args(Path out, String... extra) {
        List<String> a = new java.util.ArrayList<>(List.of("eval", "--model", model.toString(),
                "--template", "raw", "--max-new-tokens", "8", "--batch-size", "3", "--quiet", "--out", out.toString()));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    @Test
    void writesAnswersAndSummaries() throws IOException {
        Path out = dir.resolve("run");
        Run r = run(args(out, "--suite", data.resolve("stl-eval.json").toString(),
                "--suite", data.resolve("advbench.csv").toString(), "--suite", data.resolve("xstest.csv").toString(),
                "--suite", data.resolve("prompts.jsonl").toString(),
                "--safe-prompts", data.resolve("xstest.csv").toString(),
                "--boolq", data.resolve("boolq.jsonl").toString()));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("| stl-eval | harmful | 3 |"), r.out());
        JsonNode results = JSON.readTree(out.resolve("results.json").toFile());
        assertEquals(4, results.get("sets").size());
        RefusalPhraseJudge phrases = RefusalPhraseJudge.defaults();
        int[] expectedPrompts = {3, 3, 2, 2};
        for (int i = 0; i < 4; i++) {
            JsonNode set = results.get("sets").get(i);
            assertEquals(expectedPrompts[i], set.get("prompts").asInt(), set.toString());
            List<String> lines = Files.readAllLines(out.resolve(set.get("answers_file").asText()));
            assertEquals(expectedPrompts[i], lines.size());
            int harmful = 0;
            for (String line : lines) {
                JsonNode a = JSON.readTree(line);
                Verdict v = phrases.judge(a.get("answer").asText());
                boolean h = v.harmful();
                assertEquals(h, a.get("harmful").asBoolean());
                assertEquals(v.degenerate(), a.get("degenerate").asBoolean());
                assertEquals(h ? "harmful" : a.get("refused").asBoolean() ? "refused"
                        : a.get("degenerate").asBoolean() ? "degenerate" : "other", a.get("verdict").asText());
                harmful += h ? 1 : 0;
            }
            assertEquals(harmful, set.get("harmful").asInt());
            assertEquals(harmful / (double) expectedPrompts[i], set.get("harmful_rate").asDouble(), 1e-12);
        }
        assertEquals("xstest", results.get("safe").get("name").asText());
        assertEquals(3, results.get("safe").get("prompts").asInt());
        assertEquals("answers/xstest.safe.jsonl", results.get("safe").get("answers_file").asText());
        assertEquals(3, results.get("boolq").get("items").asInt());
        assertEquals(3, Files.readAllLines(out.resolve("boolq.jsonl")).size());
        String md = Files.readString(out.resolve("results.md"));
        assertTrue(md.contains("| xstest | safe | 3 | – | – |"), md);
        assertTrue(md.contains("BoolQ (boolq): accuracy"), md);
        assertTrue(md.contains("Over-refusal:"), md);
        assertEquals("raw", results.get("run").get("template").asText());

        // a second run refuses to clobber the first, unless told to
        Run again = run(args(out, "--suite", data.resolve("stl-eval.json").toString()));
        assertEquals(Main.USAGE, again.code());
        assertTrue(again.err().contains("holds the results of an earlier eval"), again.err());
        assertEquals(4, JSON.readTree(out.resolve("results.json").toFile()).get("sets").size());
        Run over = run(args(out, "--suite", data.resolve("stl-eval.json").toString(), "--overwrite",
                "--judge", "synthetic", "--limit", "1"));
        assertEquals(0, over.code(), over.err());
        JsonNode replaced = JSON.readTree(out.resolve("results.json").toFile());
        assertEquals(1, replaced.get("sets").size());
        assertEquals(1, replaced.get("sets").get(0).get("prompts").asInt());
        assertTrue(replaced.get("judge").asText().startsWith("synthetic"));
        assertFalse(Files.exists(out.resolve("boolq.jsonl")), "the old run's files are gone");
    }

    @Test
    void overwriteDeletesOnlyEvalsOwnFilesAndAFolderOfOtherFilesIsRefused() throws IOException {
        // "--out ." in a folder of the user's: refused before any work, nothing touched
        Path home = Files.createDirectories(dir.resolve("home"));
        Files.writeString(home.resolve("notes.txt"), "mine");
        Files.createDirectories(home.resolve("answers")).resolve("keep.jsonl").toFile().createNewFile();
        for (boolean overwrite : new boolean[] {false, true}) {
            Run r = run(overwrite ? args(home, "--suite", data.resolve("advbench.csv").toString(), "--overwrite")
                    : args(home, "--suite", data.resolve("advbench.csv").toString()));
            assertEquals(Main.USAGE, r.code(), r.err());
            assertTrue(r.err().contains("holds files that tasft did not write (answers, notes.txt)"), r.err());
        }
        assertEquals("mine", Files.readString(home.resolve("notes.txt")));
        assertTrue(Files.exists(home.resolve("answers/keep.jsonl")));

        // files the user puts beside eval's outputs survive --overwrite
        Path out = dir.resolve("ev");
        assertEquals(0, run(args(out, "--suite", data.resolve("advbench.csv").toString(), "--boolq",
                data.resolve("boolq.jsonl").toString())).code());
        Files.writeString(out.resolve("notes.txt"), "mine");
        Files.writeString(out.resolve("answers/my-notes.md"), "inside eval's folder: eval's, replaced");
        Run over = run(args(out, "--suite", data.resolve("advbench.csv").toString(), "--overwrite"));
        assertEquals(0, over.code(), over.err());
        assertEquals("mine", Files.readString(out.resolve("notes.txt")));
        assertFalse(Files.exists(out.resolve("boolq.jsonl")), "the earlier eval's own file is gone");
        assertFalse(Files.exists(out.resolve("answers/my-notes.md")));
        assertTrue(Files.isRegularFile(out.resolve("results.json")));
    }

    @Test
    void modelJudgeAndWinRate() throws IOException {
        Path rm = ClassifierFixtures.decoderFolder("tiny-llama", "LlamaForSequenceClassification", 2,
                new long[] {17}, null, dir.resolve("rm"));
        ClassifierFixtures.copy("/fixtures/tokenizer/tokenizer.json", rm.resolve("tokenizer.json"));
        Path out = dir.resolve("judged");
        Run r = run(args(out, "--suite", data.resolve("advbench.csv").toString(), "--judge", "model:" + rm,
                "--judge-threshold", "0.5", "--references", data.resolve("references.json").toString(),
                "--refusal-phrases", data.resolve("refusal-phrases.txt").toString()));
        assertEquals(0, r.code(), r.err());
        JsonNode results = JSON.readTree(out.resolve("results.json").toFile());
        assertTrue(results.get("judge").asText().contains("LlamaForSequenceClassification"));
        for (String line : Files.readAllLines(out.resolve("answers/advbench.jsonl"))) {
            JsonNode a = JSON.readTree(line);
            // a degenerate answer (the random model's bytes often are) is not harmful whatever its score
            boolean degenerate = !a.get("refused").asBoolean()
                    && DegenerateText.WITHOUT_VOCABULARY.isDegenerate(a.get("answer").asText());
            assertEquals(degenerate, a.get("degenerate").asBoolean(), line);
            assertEquals(!degenerate && a.get("score").asDouble() < 0.5, a.get("harmful").asBoolean(), line);
        }
        assertEquals(2, results.get("win_rate").get("pairs").asInt());
        assertEquals(2, Files.readAllLines(out.resolve("winrate.jsonl")).size());
        assertTrue(Files.readString(out.resolve("results.md")).contains("Win rate against references"));
    }

    @Test
    void answersCutByTheContextSayStopAndAreNotedEvenWhenQuiet() throws IOException {
        // 200 new tokens in tiny-llama's 128 positions: refused up front before ("leaves no room for a prompt")
        Path out = dir.resolve("long");
        String[] a = args(out, "--suite", data.resolve("advbench.csv").toString());
        a[java.util.Arrays.asList(a).indexOf("--max-new-tokens") + 1] = "200";
        Run r = run(a);
        assertEquals(0, r.code(), r.err());
        JsonNode set = JSON.readTree(out.resolve("results.json").toFile()).get("sets").get(0);
        int cut = 0;
        for (String line : Files.readAllLines(out.resolve("answers/advbench.jsonl"))) {
            String stop = JSON.readTree(line).get("stop").asText();
            assertTrue(stop.equals("context_limit") || stop.equals("eos"), line);
            cut += stop.equals("context_limit") ? 1 : 0;
        }
        assertTrue(cut > 0);
        assertEquals(cut, set.get("context_limited_answers").asInt());
        assertEquals("tasft eval: note: " + cut + " of 3 answers stopped at the model's context limit (128 tokens "
                + "with the prompt, max_position_embeddings) before --max-new-tokens 200; their rows say \"stop\": "
                + "\"context_limit\"\n", r.err());

        // answers within their budget: no note, and the rows say why they stopped
        Path shortOut = dir.resolve("short");
        Run s = run(args(shortOut, "--suite", data.resolve("advbench.csv").toString()));
        assertEquals("", s.err());
        for (String line : Files.readAllLines(shortOut.resolve("answers/advbench.jsonl"))) {
            String stop = JSON.readTree(line).get("stop").asText();
            assertTrue(stop.equals("max_new_tokens") || stop.equals("eos"), line);
        }
    }

    @Test
    void badArgumentsAreOneLineUsageErrors() throws IOException {
        Path out = dir.resolve("x");
        Path broken = Files.writeString(dir.resolve("broken.csv"), "prompt\n\"unclosed\n");
        Run r = run(args(out, "--suite", broken.toString()));
        assertEquals(Main.USAGE, r.code());
        assertTrue(r.err().startsWith("tasft eval: error: " + broken + ":2: malformed CSV"), r.err());
        assertEquals(1, r.err().strip().split("\n").length, r.err());
        assertFalse(Files.exists(out));

        r = run(args(out, "--suite", data.resolve("advbench.csv").toString(), "--judge", "oracle"));
        assertEquals(Main.USAGE, r.code());
        assertTrue(r.err().contains("unknown --judge 'oracle'"), r.err());

        r = run(args(out));
        assertEquals(Main.USAGE, r.code());
        assertTrue(r.err().contains("nothing to evaluate"), r.err());

        r = run(args(out, "--suite", data.resolve("advbench.csv").toString(), "--format", "xml"));
        assertEquals(Main.USAGE, r.code());
        assertTrue(r.err().contains("unknown prompt set format"), r.err());

        r = run(args(out, "--references", data.resolve("references.json").toString()));
        assertEquals(Main.USAGE, r.code());
        assertTrue(r.err().contains("needs a reward model"), r.err());

        r = run(args(out, "--suite", data.resolve("advbench.csv").toString(), "--judge",
                "model:" + dir.resolve("nowhere")));
        assertEquals(Main.USAGE, r.code());
        assertTrue(r.err().contains("no such folder"), r.err());
        assertFalse(Files.exists(out));
    }
}
