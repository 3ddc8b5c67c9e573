package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

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
        assertUsageError(run(base("--method", "dpo")),
                "tasft train: error: --method 'dpo': expected one of emd, sft, nlcl, ga, kto, stl, emd-cap\n");
        assertUsageError(run(base("--schedule", "exp")), "--schedule 'exp'");
        assertUsageError(run(base("--reduction", "mean")), "--reduction 'mean'");
        assertUsageError(run(base("--fused-head", "maybe")), "--fused-head: expected one of auto, on, off, got 'maybe'");
        assertUsageError(run(base("--lr", "abc")), "--lr");
        assertUsageError(run(base("--harmful", dir.resolve("nope.json").toString())), "--harmful");
        assertUsageError(run(base("--method", "sft", "--resume", dir.resolve("nope").toString())), "--resume");
    }

    @Test
    void maxLengthDefaultsToTheModelsContext() throws IOException {
        // an example far longer than tiny-gpt2's 128 learned positions: the old default (512) failed at step 1
        Path safe = TrainerTesting.alpaca(dir.resolve("long.json"), 4, "Say hello.", "Hello. ".repeat(150));
        String gpt2 = TrainTesting.fixture("tiny-gpt2").toString();
        Run r = run("train", "--model", gpt2, "--safe", safe.toString(), "--out", dir.resolve("gpt2").toString(),
                "--method", "sft", "--steps", "1", "--batch-size", "2", "--no-progress");
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(dir.resolve("gpt2/final/model.safetensors")));
        // an explicit limit within the context still applies
        r = run("train", "--model", gpt2, "--safe", safe.toString(), "--out", dir.resolve("gpt2-64").toString(),
                "--method", "sft", "--steps", "1", "--batch-size", "2", "--max-length", "64", "--no-progress");
        assertEquals(0, r.code(), r.err());
        String help = run("train", "--help").out().replaceAll("\\s+", " ");
        assertTrue(help.contains("--max-length=N Token limit of an example (default: the model's "
                + "max_position_embeddings"), help);
    }

    @Test
    void aMaxLengthPastTheModelsContextIsAUsageErrorBeforeAnyWork() {
        String gpt2 = TrainTesting.fixture("tiny-gpt2").toString();
        String safe = TrainerTesting.safe(dir).toString();
        Path out = dir.resolve("out");
        assertUsageError(run("train", "--model", gpt2, "--safe", safe, "--out", out.toString(), "--method", "sft",
                "--max-length", "129"), "--max-length 129 is longer than the model's context: " + gpt2
                + " has max_position_embeddings 128");
        // Llama's rotary positions would run past its training silently
        assertUsageError(run(base("--method", "sft", "--max-length", "512")), "has max_position_embeddings 128");
        // data parallel: refused before any rank starts
        assertUsageError(run(base("--method", "sft", "--max-length", "512", "--nproc-per-node", "2")),
                "--max-length 512");
        assertEquals(false, Files.exists(out), "nothing written");
        // a folder without config.json: still a one-line usage error, not an I/O trace
        assertUsageError(run("train", "--model", dir.toString(), "--safe", safe, "--out", out.toString(),
                "--method", "sft"), "no config.json");
        // the builder's default is the model's limit, resolved from config.json
        TrainConfig c = TrainerTesting.sft(dir, "x").build();
        assertEquals(TrainConfig.MODEL_LIMIT, c.maxLength());
        assertEquals(128, c.maxLengthForModel());
        assertEquals(100, c.toBuilder().maxLength(100).build().maxLengthForModel());
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

    private String[] withSafe(Path safe, String... more) {
        String[] head = {"train", "--model", TrainTesting.fixture("tiny-llama").toString(), "--safe", safe.toString(),
            "--out", dir.resolve("out").toString(), "--no-progress"};
        return concat(head, more);
    }

    @Test
    void missingOrMalformedDataFilesNameTheFileAndLine() throws IOException {
        assertUsageError(run(withSafe(dir.resolve("nope.json"), "--method", "sft")), "nope.json: no such file");
        Path bad = Files.writeString(dir.resolve("bad.jsonl"),
                "{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"c\", \"output\": \n");
        Run r = run(withSafe(bad, "--method", "sft"));
        assertUsageError(r, bad + ": line 2: not JSON");
        Path noOutput = Files.writeString(dir.resolve("noout.json"), "[{\"instruction\": \"a\"}]");
        assertUsageError(run(withSafe(noOutput, "--method", "sft")),
                noOutput + ": [0]: missing field \"output\"");
        Path harmfulBad = Files.writeString(dir.resolve("harmful.jsonl"), "{\"prompt\": \"x\", \"response\": 3}\n");
        assertUsageError(run(base("--harmful", harmfulBad.toString(), "--safe-per-batch", "1", "--batch-size", "2")),
                harmfulBad + ": line 1: field \"response\" must be a string");
        assertEquals(false, Files.exists(dir.resolve("out")), "nothing written on bad input");
    }

    @Test
    void harmfulMethodsNeedHarmfulExamples() throws IOException {
        Path empty = Files.writeString(dir.resolve("empty.json"), "[]");
        String harmful = TrainerTesting.harmful(dir).toString();
        for (Method m : Method.values()) {
            if (!m.needsHarmful()) {
                continue;
            }
            String method = m.id();
            assertUsageError(run(base("--method", method)), "--method " + method + " trains on harmful examples");
            assertUsageError(run(base("--method", method, "--harmful", harmful, "--harmful-count", "0",
                    "--batch-size", "2", "--safe-per-batch", "1")), "--harmful-count 0 leaves --method " + method);
            assertUsageError(run(base("--method", method, "--harmful", harmful, "--batch-size", "2",
                    "--safe-per-batch", "2")), "leaves no room in a batch");
            assertUsageError(run(base("--method", method, "--harmful", empty.toString(), "--batch-size", "2",
                    "--safe-per-batch", "1")), empty + ": no examples");
        }
        assertUsageError(run(base("--harmful", harmful, "--harmful-count", "9", "--batch-size", "2",
                "--safe-per-batch", "1")), "--harmful-count 9: " + harmful + " holds only 3 examples");
    }

    @Test
    void lambdaAndLearningRateMustBeFinite() {
        String harmful = TrainerTesting.harmful(dir).toString();
        for (String v : new String[] {"NaN", "Infinity", "-Infinity"}) {
            assertUsageError(run(base("--harmful", harmful, "--batch-size", "2", "--safe-per-batch", "1",
                    "--lambda", v)), "--lambda must be a finite number");
            assertUsageError(run(base("--method", "sft", "--lr", v)), "--lr must be a finite number");
        }
        assertUsageError(run(base("--method", "sft", "--lr", "inf")), "--lr");
    }

    @Test
    void anOutputFolderHoldingAnotherRunIsRefusedUnlessResumedOrOverwritten() throws IOException {
        String[] sft = {"--method", "sft", "--batch-size", "2", "--lr", "1e-3", "--checkpoint-every", "1"};
        Run first = run(base(concat(sft, "--steps", "3")));
        assertEquals(0, first.code(), first.err());
        Path out = dir.resolve("out");
        Files.writeString(out.resolve("notes.txt"), "mine");
        assertUsageError(run(base(concat(sft, "--steps", "2"))), "holds another run");
        assertTrue(Files.isDirectory(out.resolve("checkpoint-3")), "a refused run deletes nothing");
        // a run that cannot start leaves the old one in place even with --overwrite
        assertUsageError(run(base(concat(sft, "--steps", "2", "--overwrite", "--harmful-count", "2"))),
                "--harmful-count");
        assertTrue(Files.isDirectory(out.resolve("checkpoint-3")));
        assertUsageError(run(base(concat(sft, "--steps", "4", "--overwrite", "--resume",
                out.resolve("checkpoint-3").toString()))), "--resume");

        // a resumed run must use the same settings, unless a change is asked for by name (and recorded)
        String ckpt = out.resolve("checkpoint-3").toString();
        assertUsageError(run(base(concat(sft, "--steps", "4", "--resume", ckpt, "--seed", "7"))),
                "the checkpoint was trained with other settings (--steps 3 -> 4; --seed 42 -> 7): give the "
                        + "same values to continue exactly, or --allow-change seed,steps to continue with the new ones");
        assertUsageError(run(base(concat(sft, "--steps", "4", "--allow-change", "steps"))), "--allow-change is for "
                + "--resume");
        assertUsageError(run(base(concat(sft, "--steps", "4", "--resume", ckpt, "--allow-change", "stepz"))),
                "--allow-change: unknown setting 'stepz'");
        Run resumed = run(base(concat(sft, "--steps", "4", "--resume", ckpt, "--allow-change", "steps")));
        assertEquals(0, resumed.code(), resumed.err());
        assertEquals(4, TrainerTesting.lines(out.resolve("metrics.jsonl")).size());
        assertEquals(List.of("step 3: --steps 3 -> 4"), TrainCheckpoint.readState(out.resolve("checkpoint-4"))
                .changes());

        Run replaced = run(base(concat(sft, "--steps", "2", "--overwrite")));
        assertEquals(0, replaced.code(), replaced.err());
        assertEquals(List.of(1L, 2L), List.copyOf(TrainCheckpoint.list(out).keySet()));
        assertEquals(2, TrainerTesting.lines(out.resolve("metrics.jsonl")).size());
        assertEquals("mine", Files.readString(out.resolve("notes.txt")), "--overwrite deletes only run outputs");

        Path file = Files.writeString(dir.resolve("afile"), "x");
        assertUsageError(run("train", "--model", TrainTesting.fixture("tiny-llama").toString(), "--safe",
                TrainerTesting.safe(dir).toString(), "--out", file.toString(), "--method", "sft"), "is a file");
    }

    @Test
    void aFolderOfOtherFilesIsRefusedAndKeptIntact() throws IOException {
        Path out = Files.createDirectories(dir.resolve("out"));
        Files.writeString(out.resolve("notes.txt"), "mine");
        Files.createDirectories(out.resolve("checkpoint-9")); // an output's name alone proves nothing
        Files.writeString(out.resolve("checkpoint-9/weights.bin"), "mine too");
        for (String flag : List.of("--overwrite", "--keep-checkpoints=0")) {
            assertUsageError(run(base("--method", "sft", "--steps", "1", "--batch-size", "2", flag)),
                    "holds files that tasft did not write (checkpoint-9, notes.txt)");
        }
        try (var s = Files.list(out)) {
            assertEquals(List.of("checkpoint-9", "notes.txt"), s.map(p -> p.getFileName().toString()).sorted()
                    .toList());
        }
        assertEquals("mine too", Files.readString(out.resolve("checkpoint-9/weights.bin")));
    }

    @Test
    void aFirstAttemptKilledBeforeItsFirstCheckpointIsStartedOver() throws IOException {
        // what a run killed during its first steps leaves: listed, empty metrics.jsonl, no checkpoint, no final/
        Path out = Files.createDirectories(dir.resolve("out"));
        org.tasft.checkpoint.OutputFolder.claim(out, "metrics.jsonl", RunFolder.COMMAND);
        Files.writeString(out.resolve("metrics.jsonl"), "");
        Run retry = run(base("--method", "sft", "--steps", "2", "--batch-size", "2", "--lr", "1e-3"));
        assertEquals(0, retry.code(), retry.err());
        assertTrue(retry.err().contains("holds the start of a run that saved no checkpoint (metrics.jsonl): "
                + "starting over"), retry.err());
        assertEquals(2, TrainerTesting.lines(out.resolve("metrics.jsonl")).size());
    }

    @Test
    void twoRunsOnOneFolderDoNotInterleaveAndAKilledRunsLockIsTakenOver() throws Exception {
        Path out = dir.resolve("out");
        Process other = org.tasft.checkpoint.HoldLock.start(out, "train");
        try {
            Run refused = run(base("--method", "sft", "--steps", "1", "--batch-size", "2"));
            assertEquals(Main.FAILURE, refused.code(), refused.err());
            assertEquals(1, refused.err().strip().lines().count(), refused.err());
            assertTrue(refused.err().startsWith("tasft train: error: --out " + out + " is in use by tasft train "
                    + "(pid " + other.pid() + " on "), refused.err());
            assertTrue(refused.err().contains("wait for that run to end, or choose another output"), refused.err());
        } finally {
            other.destroyForcibly().waitFor(); // kill -9: its lock file stays behind
        }
        assertTrue(Files.isRegularFile(out.resolve(org.tasft.checkpoint.OutputLock.FOLDER_LOCK)));
        Run next = run(base("--method", "sft", "--steps", "1", "--batch-size", "2"));
        assertEquals(0, next.code(), next.err());
        assertTrue(next.err().contains("took over the lock of tasft train (pid " + other.pid()), next.err());
        assertTrue(Files.isDirectory(out.resolve("final")));
        assertTrue(!Files.exists(out.resolve(org.tasft.checkpoint.OutputLock.FOLDER_LOCK)), "released at the end");
    }

    @Test
    void loraKeepCheckpointsAndStlFromTheCommandLine() {
        String harmful = TrainerTesting.harmful(dir).toString();
        Run r = run(base("--method", "stl", "--harmful", harmful, "--harmful-count", "2", "--batch-size", "3",
                "--safe-per-batch", "2", "--steps", "3", "--checkpoint-every", "1", "--keep-checkpoints", "1",
                "--lora-rank", "2", "--lora-alpha", "4", "--lora-dropout", "0", "--lora-targets", "q_proj,o_proj",
                "--save-adapters", "--lr", "1e-3"));
        assertEquals(0, r.code(), r.err());
        Path out = dir.resolve("out");
        assertEquals(List.of(3L), List.copyOf(TrainCheckpoint.list(out).keySet()));
        assertTrue(Files.isRegularFile(out.resolve("adapter/adapter_config.json")));
        assertUsageError(run(base("--method", "sft", "--lora-rank", "2", "--lora-targets", "nope", "--overwrite")),
                "nope");
        assertUsageError(run(base("--method", "sft", "--save-adapters")), "--save-adapters needs LoRA");
        assertUsageError(run(base("--method", "sft", "--cache", dir.toString())), "--cache");
    }

    private static String[] concat(String[] a, String... b) {
        String[] all = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
