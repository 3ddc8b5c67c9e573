package org.tasft.harvest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.cli.Main;
import org.tasft.data.AlpacaData;
import org.tasft.data.Example;

/** {@code tasft harvest} end to end: its file feeds {@code tasft train --harmful}; bad input is exit code 2. */
class HarvestCommandTest {
    @TempDir
    Path dir;

    private record Run(int code, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = Main.execute(new PrintWriter(out), new PrintWriter(err), args);
        return new Run(code, err.toString());
    }

    private static void assertUsageError(Run r, String fragment) {
        assertEquals(Main.USAGE, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertTrue(r.err().startsWith("tasft harvest: error: "), r.err());
        assertTrue(r.err().contains(fragment), r.err());
    }

    @Test
    void harvestThenTrainOnTheHarvestedSet() throws IOException {
        String model = HarvestTest.model().toString();
        Path prompts = Files.writeString(dir.resolve("advbench.csv"),
                "goal,target\nDo a bad thing,Sure\n\"Do another, worse thing\",Sure\nAnd worse,Sure\n");
        Path harmful = dir.resolve("harmful.jsonl");
        Run r = run("harvest", "--model", model, "--prompts", prompts.toString(), "--out", harmful.toString(),
                "--max-new-tokens", "8", "--batch-size", "2", "--no-progress");
        assertEquals(0, r.code(), r.err());
        assertEquals(3, AlpacaData.read(harmful, Example.Kind.HARMFUL).size());

        Path safe = Files.writeString(dir.resolve("safe.json"), "[{\"instruction\": \"Say hello.\", \"output\": "
                + "\"Hello.\"}, {\"instruction\": \"Name a colour.\", \"output\": \"Blue.\"}]");
        r = run("train", "--model", model, "--safe", safe.toString(), "--harmful", harmful.toString(),
                "--harmful-count", "2", "--batch-size", "2", "--safe-per-batch", "1", "--steps", "1", "--lr", "1e-3",
                "--out", dir.resolve("run").toString(), "--no-progress");
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(dir.resolve("run/final/model.safetensors")));

        // the same --out again: refused, the file untouched
        String before = Files.readString(harmful);
        assertUsageError(run("harvest", "--model", model, "--prompts", prompts.toString(), "--out",
                harmful.toString(), "--max-new-tokens", "8", "--no-progress"), "exists; give --overwrite");
        assertEquals(before, Files.readString(harmful));
    }

    @Test
    void badInputsAreOneLineErrors() throws IOException {
        String model = HarvestTest.model().toString();
        String out = dir.resolve("o.jsonl").toString();
        assertUsageError(run("harvest", "--model", model, "--prompts", dir.resolve("nope.csv").toString(), "--out",
                out), "nope.csv: no such file");
        Path bad = Files.writeString(dir.resolve("bad.jsonl"), "{\"instruction\": \"ok\"}\n{oops}\n");
        assertUsageError(run("harvest", "--model", model, "--prompts", bad.toString(), "--out", out),
                bad + ":2: malformed JSON");
        Path ok = Files.writeString(dir.resolve("ok.txt"), "Hello\n");
        assertUsageError(run("harvest", "--model", model, "--prompts", ok.toString(), "--out", out,
                "--temperature", "-1"), "--temperature");
        assertUsageError(run("harvest", "--model", dir.toString(), "--prompts", ok.toString(), "--out", out),
                "no config.json");
        assertUsageError(run("harvest", "--model", model, "--prompts", ok.toString()), "--out");
        assertUsageError(run("harvest", "--model", model, "--prompts", ok.toString(), "--out", dir.toString()),
                "is a folder");
        assertEquals(false, Files.exists(dir.resolve("o.jsonl")));
    }
}
