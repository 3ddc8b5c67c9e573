package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.model.CausalLm;
import org.tasft.testing.SpecialFiles;

/**
 * Outputs that cannot be written, and options that every rank would refuse, fail before any work with one line:
 * no model is loaded, no answer generated, no child JVM started.
 */
class OutputChecksTest {
    @TempDir
    Path dir;
    Path model;
    Path safe;
    private Function<Path, CausalLm> savedLoader;
    private final AtomicInteger loads = new AtomicInteger();

    @BeforeEach
    void files() throws IOException {
        model = MainTest.tinyLlama(dir);
        safe = Files.writeString(dir.resolve("safe.jsonl"), "{\"instruction\": \"Say hi.\", \"output\": \"Hi.\"}\n"
                + "{\"instruction\": \"Say bye.\", \"output\": \"Bye.\"}\n");
        savedLoader = ModelFolder.loader;
        ModelFolder.loader = d -> {
            loads.incrementAndGet();
            return savedLoader.apply(d);
        };
    }

    @AfterEach
    void restore() {
        ModelFolder.loader = savedLoader;
    }

    private static void assertUsageLine(MainTest.Run r, String... fragments) {
        assertEquals(Main.USAGE, r.code(), r.err());
        assertEquals(1, r.errLines().size(), "one line: " + r.err());
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), r.err());
        for (String f : fragments) {
            assertTrue(r.err().contains(f), "'" + f + "' in " + r.err());
        }
    }

    @Test
    void aReadOnlyOutIsOneLineInEveryCommand() throws Exception {
        Path ro = Files.createDirectories(dir.resolve("ro"));
        assumeTrue(SpecialFiles.makeUnwritable(ro), "cannot make a folder read-only here");
        try {
            Path out = ro.resolve("run");
            String denied = "cannot write --out " + out + ": permission denied";
            assertUsageLine(MainTest.run("train", "--model", model.toString(), "--safe", safe.toString(), "--out",
                    out.toString(), "--method", "sft", "--batch-size", "2", "--steps", "1", "--no-progress"), denied);
            assertUsageLine(MainTest.run("train", "--out", out.toString()), denied); // the default job
            assertUsageLine(MainTest.run("eval", "--model", model.toString(), "--suite", safe.toString(), "--out",
                    out.toString(), "--quiet"), denied);
            assertUsageLine(MainTest.run("harvest", "--model", model.toString(), "--prompts", safe.toString(),
                    "--out", ro.resolve("h.jsonl").toString(), "--no-progress"),
                    "cannot write --out " + ro.resolve("h.jsonl") + ": permission denied");
            assertUsageLine(MainTest.run("experiment", "--quick", "--out", out.toString(), "--no-progress"), denied);
            // the folder itself, existing but read-only
            assertUsageLine(MainTest.run("eval", "--model", model.toString(), "--suite", safe.toString(), "--out",
                    ro.toString(), "--overwrite", "--quiet"), "cannot write --out " + ro + ": permission denied");
            assertEquals(0, loads.get(), "no model was loaded");
        } finally {
            SpecialFiles.makeWritable(ro);
        }
    }

    @Test
    void anOutThatIsAFileFailsBeforeAnyWork() throws IOException {
        Path file = Files.writeString(dir.resolve("results"), "not a folder");
        String[] eval = {"eval", "--model", model.toString(), "--suite", safe.toString(), "--out", file.toString(),
            "--overwrite", "--max-new-tokens", "2", "--quiet"};
        assertUsageLine(MainTest.run(eval), "--out " + file + " is a file, not a folder");
        assertEquals(0, loads.get(), "refused before the model was loaded and answers generated");
        assertUsageLine(MainTest.run("train", "--model", model.toString(), "--safe", safe.toString(), "--out",
                file.resolve("run").toString(), "--method", "sft", "--batch-size", "2", "--no-progress"),
                file + " is a file, not a folder");
        assertUsageLine(MainTest.run("harvest", "--model", model.toString(), "--prompts", safe.toString(), "--out",
                file.resolve("h.jsonl").toString()), file + " is a file, not a folder");
        assertUsageLine(MainTest.run("experiment", "--out", file.toString()), "--out " + file + " is a file");
        assertEquals("not a folder", Files.readString(file));
    }

    @Test
    void aLateIoErrorSaysWhatAndWhyWithoutTheExceptionType() {
        ModelFolder.loader = d -> {
            throw new UncheckedIOException("cannot write " + d.resolve("x"), new AccessDeniedException("x"));
        };
        MainTest.Run r = MainTest.run("score", "--model", model.toString(), "--ids", "1,2");
        assertEquals(Main.FAILURE, r.code(), r.err());
        assertEquals("tasft score: error: cannot write " + model.resolve("x") + ": permission denied",
                r.err().strip());
    }

    private String[] train(String... more) {
        String[] head = {"train", "--model", model.toString(), "--safe", safe.toString(), "--out",
            dir.resolve("run").toString(), "--method", "sft", "--no-progress"};
        String[] all = new String[head.length + more.length];
        System.arraycopy(head, 0, all, 0, head.length);
        System.arraycopy(more, 0, all, head.length, more.length);
        return all;
    }

    @Test
    void negativeCountsAreOutOfRangeNotMissing() {
        assertUsageLine(MainTest.run(train("--batch-size", "2", "--safe-per-batch", "-1")),
                "--safe-per-batch must be >= 0, got -1");
        assertUsageLine(MainTest.run(train("--batch-size", "2", "--harmful-count", "-1")),
                "--harmful-count must be >= 0, got -1");
        assertUsageLine(MainTest.run(train("--batch-size", "2", "--steps", "-1")), "--steps must be >= 1, got -1");
    }

    @Test
    void dataParallelOptionsAreCheckedOnceBeforeAnyRankStarts() {
        assertUsageLine(MainTest.run(train("--batch-size", "4", "--nproc-per-node", "3")),
                "--batch-size 4 is not a multiple of the 3 ranks (--nproc-per-node 3)");
        assertUsageLine(MainTest.run(train("--batch-size", "4", "--nproc-per-node", "2", "--nnodes", "2",
                "--node-rank", "2")), "--node-rank 2 is outside [0, --nnodes 2)");
        // every TrainConfig check, and the output folder's
        assertUsageLine(MainTest.run(train("--batch-size", "4", "--nproc-per-node", "2", "--lr", "-1")), "--lr");
        assertUsageLine(MainTest.run(train("--batch-size", "4", "--nproc-per-node", "2", "--safe-per-batch", "-1")),
                "--safe-per-batch must be >= 0");
        assertUsageLine(MainTest.run("train", "--model", model.toString(), "--safe", dir.resolve("nope").toString(),
                "--out", dir.resolve("run").toString(), "--nproc-per-node", "2"), "--safe", "no such file");
        assertFalse(Files.exists(dir.resolve("run")), "nothing was started");
    }
}
