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

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.checkpoint.HoldLock;
import org.tasft.testing.ClassifierFixtures;

/** eval, harvest and experiment refuse an output that another process is writing (train: TrainCommandTest). */
class OutputLockCommandsTest {
    @TempDir
    Path dir;

    private static String[] run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.execute(new PrintWriter(out), new PrintWriter(err), args);
        return new String[] {Integer.toString(code), err.toString()};
    }

    private static void assertInUse(String[] r, String command, Path out, Process holder) {
        assertEquals(Integer.toString(Main.FAILURE), r[0], r[1]);
        assertTrue(r[1].startsWith("tasft " + command + ": error: --out " + out + " is in use by tasft " + command
                + " (pid " + holder.pid() + " on "), r[1]);
    }

    @Test
    void evalHarvestAndExperimentHonourTheLock() throws IOException, InterruptedException {
        Path model = dir.resolve("tiny-llama");
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json")) {
            ClassifierFixtures.copy("/fixtures/tiny-llama/" + f, model.resolve(f));
        }
        Path prompts = Files.writeString(dir.resolve("prompts.jsonl"), "{\"prompt\": \"Say hi.\"}\n");

        Path evalOut = dir.resolve("eval");
        Process holder = HoldLock.start(evalOut, "eval");
        try {
            assertInUse(run("eval", "--model", model.toString(), "--suite", prompts.toString(), "--quiet", "--out",
                    evalOut.toString()), "eval", evalOut, holder);
        } finally {
            holder.destroyForcibly().waitFor();
        }

        Path harvested = dir.resolve("harmful.jsonl");
        holder = HoldLock.start(harvested, "harvest", "file");
        try {
            assertInUse(run("harvest", "--model", model.toString(), "--prompts", prompts.toString(), "--out",
                    harvested.toString(), "--no-progress"), "harvest", harvested, holder);
            assertFalse(Files.exists(harvested));
        } finally {
            holder.destroyForcibly().waitFor();
        }

        Path experimentOut = dir.resolve("experiment");
        holder = HoldLock.start(experimentOut, "experiment");
        try {
            assertInUse(run("experiment", "--quick", "--no-progress", "--out", experimentOut.toString()),
                    "experiment", experimentOut, holder);
        } finally {
            holder.destroyForcibly().waitFor();
        }
    }
}
