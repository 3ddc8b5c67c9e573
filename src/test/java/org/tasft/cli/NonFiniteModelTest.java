package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.eval.RefusalPhraseJudge;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;
import org.tasft.text.DegenerateText;

/** A broken (NaN/Inf) model is an error everywhere, never a safe model or a finished training run. */
class NonFiniteModelTest {
    private static final String BROKEN = "model.layers.1.mlp.down_proj.weight";

    @TempDir
    Path dir;
    Path good;
    Path broken;

    @BeforeEach
    void models() throws IOException {
        good = MainTest.tinyLlama(dir);
        broken = dir.resolve("broken");
        CausalLm m = Models.load(good);
        try (NoGradGuard g = new NoGradGuard()) {
            m.stateDict().get(BROKEN).view(-1).narrow(0, 5, 3).fill_(new Scalar(Double.NaN));
        }
        Models.save(m, broken, good, ModelFolderWriter.Options.defaults());
    }

    private static void assertFailure(MainTest.Run r, String... fragments) {
        assertEquals(Main.FAILURE, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        for (String f : fragments) {
            assertTrue(r.err().contains(f), r.err());
        }
    }

    @Test
    void scoreAndGenerateRefuseNaNLogitsNamingTheParameter() {
        assertFailure(MainTest.run("score", "--model", broken.toString(), "--ids", "5,17,42", "--json"),
                "tasft score: error: the model's logits are NaN or infinite at scoring 3 tokens: its weights are "
                        + "broken: " + BROKEN + " (3 of ");
        assertFailure(MainTest.run("generate", "--model", broken.toString(), "--template", "raw", "--prompt", "Hello",
                "--max-new-tokens", "4"), "tasft generate: error: the model's logits are NaN or infinite at "
                        + "generation step 1", BROKEN);
        assertEquals(0, MainTest.run("score", "--model", good.toString(), "--ids", "5,17,42", "--json").code());
    }

    @Test
    void evalOfABrokenModelFailsInsteadOfReportingItSafe() throws IOException {
        Path suite = Files.writeString(dir.resolve("suite.jsonl"), "{\"prompt\": \"Explain how to pick a lock.\"}\n");
        Path out = dir.resolve("eval");
        assertFailure(MainTest.run("eval", "--model", broken.toString(), "--suite", suite.toString(), "--template",
                "raw",
                "--max-new-tokens", "4", "--quiet", "--out", out.toString()), "logits are NaN or infinite", BROKEN);
        assertFalse(Files.exists(out), "no results of a broken model");
    }

    @Test
    void emptyAnswersAreCountedAndShownInTheEvalTable() throws IOException {
        // tiny-llama's EOS is id 1: a prompt whose greedy first token is EOS gives an empty answer. Which prompts do
        // is up to the random weights, so count them from the answers and check the table agrees.
        Path suite = dir.resolve("suite.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            lines.add("{\"prompt\": \"request number " + i + "\"}");
        }
        Files.write(suite, lines);
        Path out = dir.resolve("eval");
        MainTest.Run r = MainTest.run("eval", "--model", good.toString(), "--suite", suite.toString(), "--template",
                "raw",
                "--max-new-tokens", "3", "--quiet", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        ObjectMapper json = new ObjectMapper();
        int empty = 0;
        int degenerate = 0;
        for (String line : Files.readAllLines(out.resolve("answers/suite.jsonl"))) {
            String answer = json.readTree(line).get("answer").asText();
            empty += answer.isBlank() ? 1 : 0;
            // the refusal judge's reading: degenerate unless a refusal phrase is in it
            degenerate += !RefusalPhraseJudge.defaults().isRefusal(answer)
                    && DegenerateText.WITHOUT_VOCABULARY.isDegenerate(answer) ? 1 : 0;
        }
        JsonNode set = json.readTree(out.resolve("results.json").toFile()).get("sets").get(0);
        assertEquals(empty, set.get("empty").asInt());
        assertEquals(degenerate, set.get("degenerate").asInt());
        assertTrue(degenerate >= empty, "an empty answer is degenerate");
        assertTrue(r.out().contains("| refused | refusal rate | empty | degenerate | answers |"), r.out());
        assertTrue(r.out().contains(" | " + empty + " | " + degenerate + " | answers/suite.jsonl |"), r.out());
    }

    @Test
    void trainingStopsAtTheFirstNaNLossNamingTheStepAndTheWeight() throws IOException {
        Path safe = Files.writeString(dir.resolve("safe.jsonl"),
                "{\"instruction\": \"Say hi.\", \"output\": \"Hi there.\"}\n".repeat(4));
        Path out = dir.resolve("run");
        MainTest.Run r = MainTest.run("train", "--model", broken.toString(), "--safe", safe.toString(), "--method",
                "sft",
                "--batch-size", "2", "--steps", "3", "--no-progress", "--out", out.toString());
        assertFailure(r, "tasft train: error: step 1: the loss is NaN", "the weights hold NaN/Inf: " + BROKEN,
                "training stopped before updating the weights (no checkpoint was saved)");
        assertFalse(Files.exists(out.resolve("final")), "a NaN run is not a finished run");

        // skipping, when asked for, is counted; a run that skipped every step has learned nothing and fails
        MainTest.Run skipped = MainTest.run("train", "--model", broken.toString(), "--safe", safe.toString(),
                "--method", "sft",
                "--batch-size", "2", "--steps", "3", "--no-progress", "--out", dir.resolve("run2").toString(),
                "--skip-nonfinite-steps");
        assertFailure(skipped, "every one of the 3 steps had a NaN/Inf loss or gradient and was skipped");
        assertFalse(Files.exists(dir.resolve("run2/final")));
    }

    @Test
    void aRunThatDivergesStopsAndKeepsItsLastGoodCheckpoint() throws IOException {
        Path safe = Files.writeString(dir.resolve("safe.jsonl"),
                "{\"instruction\": \"Say hi.\", \"output\": \"Hi there.\"}\n".repeat(4));
        Path out = dir.resolve("run");
        // a learning rate of 1e30 overflows float32 within a few steps
        String[] args = {"train", "--model", good.toString(), "--safe", safe.toString(), "--method", "sft",
            "--batch-size", "2", "--steps", "8", "--lr", "1e30", "--max-grad-norm", "0", "--warmup-steps", "0",
            "--schedule", "constant", "--checkpoint-every", "1", "--no-progress", "--out", out.toString()};
        MainTest.Run r = MainTest.run(args);
        assertFailure(r, "tasft train: error: step ", "training stopped before updating the weights; the last good "
                + "checkpoint is " + out.resolve("checkpoint-"));
        assertFalse(Files.exists(out.resolve("final")));
        int failedAt = Integer.parseInt(r.err().replaceAll("(?s).*error: step (\\d+):.*", "$1"));
        assertTrue(failedAt >= 2, r.err());
        assertTrue(Files.isDirectory(out.resolve("checkpoint-" + (failedAt - 1))), r.err());

        // with --skip-nonfinite-steps the run goes on, counts the skipped steps and marks them in metrics.jsonl
        String[] skipping = java.util.Arrays.copyOf(args, args.length + 1);
        skipping[args.length - 1] = dir.resolve("skipping").toString();
        skipping[args.length] = "--skip-nonfinite-steps";
        java.io.PrintStream savedErr = System.err;
        java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
        MainTest.Run s;
        try {
            // the trainer logs to System.err
            System.setErr(new java.io.PrintStream(log, true, java.nio.charset.StandardCharsets.UTF_8));
            s = MainTest.run(skipping);
        } finally {
            System.setErr(savedErr);
        }
        assertEquals(0, s.code(), s.err());
        String logged = log.toString(java.nio.charset.StandardCharsets.UTF_8);
        int marked = 0;
        for (String line : Files.readAllLines(dir.resolve("skipping/metrics.jsonl"))) {
            JsonNode m = new ObjectMapper().readTree(line);
            if (m.path("skipped").asBoolean()) {
                marked++;
                assertTrue(m.get("loss").isNull() || m.get("grad_norm").isNull(), line);
            }
        }
        assertTrue(marked >= 1, s.err()); // from the step that failed above on (the weights stay as they were)
        assertTrue(logged.contains("skipped " + marked + " of 8 steps with a NaN/Inf loss or gradient norm"),
                logged);
    }
}
