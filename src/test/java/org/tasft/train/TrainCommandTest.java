package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.cli.Main;

class TrainCommandTest {
    @TempDir
    Path dir;

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = Main.execute(new PrintWriter(out), new PrintWriter(err), args);
        return new Run(code, out.toString(), err.toString());
    }

    private String[] base(String... more) {
        String[] head = {"train", "--model", TrainTesting.fixture("tiny-llama").toString(), "--safe",
            TrainerTesting.safe(dir).toString(), "--out", dir.resolve("out").toString(), "--no-progress"};
        String[] all = new String[head.length + more.length];
        System.arraycopy(head, 0, all, 0, head.length);
        System.arraycopy(more, 0, all, head.length, more.length);
        return all;
    }

    private static void assertUsageError(Run r, String fragment) {
        assertEquals(Main.USAGE, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertTrue(r.err().startsWith("tasft train: error: "), r.err());
        assertTrue(r.err().contains(fragment), r.err());
    }

    @Test
    void modelWithoutSafeOrSafeWithoutModelIsAnError() {
        // Neither runs the default job (DefaultJobTest); one without the other stays a usage error.
        assertUsageError(run("train", "--model", dir.toString()), "--model and --safe are required together");
        assertUsageError(run("train", "--safe", dir.resolve("x.json").toString()),
                "--model and --safe are required together");
    }

    @Test
    void badOptionsAreOneLineErrorsWithExitCode2() {
        assertUsageError(run(base("--batch-size", "0")), "--batch-size must be >= 1");
        assertUsageError(run(base("--method", "dpo")), "--method 'dpo'");
        assertUsageError(run(base("--schedule", "exp")), "--schedule 'exp'");
        assertUsageError(run(base("--reduction", "mean")), "--reduction 'mean'");
        assertUsageError(run(base("--lr", "abc")), "--lr");
        assertUsageError(run(base("--harmful", dir.resolve("nope.json").toString())), "--harmful");
        assertUsageError(run(base("--resume", dir.resolve("nope").toString())), "--resume");
    }

    @Test
    void trainsAndWritesTheOutputs() {
        Run r = run(base("--method", "sft", "--steps", "2", "--batch-size", "2", "--lr", "1e-3"));
        assertEquals(0, r.code(), r.err());
        Path out = dir.resolve("out");
        assertTrue(Files.isRegularFile(out.resolve("final/config.json")));
        assertTrue(Files.isRegularFile(out.resolve("metrics.jsonl")));
        assertTrue(Files.isRegularFile(out.resolve("loss.png")));
        assertTrue(Files.isDirectory(out.resolve("checkpoint-2")));
    }
}
