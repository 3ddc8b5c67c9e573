package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.checkpoint.HoldLock;

/** eval, harvest and experiment refuse an output that another process is writing (train: TrainCommandTest). */
class OutputLockCommandsTest {
    @TempDir
    Path dir;

    private static void assertInUse(MainTest.Run r, String command, Path out, Process holder) {
        assertEquals(Main.FAILURE, r.code(), r.err());
        assertTrue(r.err().startsWith("tasft " + command + ": error: --out " + out + " is in use by tasft " + command
                + " (pid " + holder.pid() + " on "), r.err());
    }

    @Test
    void evalHarvestAndExperimentHonourTheLock() throws IOException, InterruptedException {
        Path model = MainTest.tinyLlama(dir);
        Path prompts = Files.writeString(dir.resolve("prompts.jsonl"), "{\"prompt\": \"Say hi.\"}\n");

        Path evalOut = dir.resolve("eval");
        Process holder = HoldLock.start(evalOut, "eval");
        try {
            assertInUse(MainTest.run("eval", "--model", model.toString(), "--suite", prompts.toString(), "--quiet",
                    "--out",
                    evalOut.toString()), "eval", evalOut, holder);
        } finally {
            holder.destroyForcibly().waitFor();
        }

        Path harvested = dir.resolve("harmful.jsonl");
        holder = HoldLock.start(harvested, "harvest", "file");
        try {
            assertInUse(MainTest.run("harvest", "--model", model.toString(), "--prompts", prompts.toString(), "--out",
                    harvested.toString(), "--no-progress"), "harvest", harvested, holder);
            assertFalse(Files.exists(harvested));
        } finally {
            holder.destroyForcibly().waitFor();
        }

        Path experimentOut = dir.resolve("experiment");
        holder = HoldLock.start(experimentOut, "experiment");
        try {
            assertInUse(MainTest.run("experiment", "--quick", "--no-progress", "--out", experimentOut.toString()),
                    "experiment", experimentOut, holder);
        } finally {
            holder.destroyForcibly().waitFor();
        }
    }
}
