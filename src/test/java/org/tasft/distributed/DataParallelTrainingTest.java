package org.tasft.distributed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.pytorch.Tensor;
import org.tasft.checkpoint.OutputFolder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.cli.Main;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;
import org.tasft.train.LrSchedule;
import org.tasft.train.Method;
import org.tasft.train.StepMetrics;
import org.tasft.train.TrainCheckpoint;
import org.tasft.train.TrainConfig;
import org.tasft.train.Trainer;

/**
 * Data-parallel training with 2 ranks in child JVMs on 127.0.0.1 (Gloo), against one process with the whole batch
 * (in this JVM). TA-SFT with batches of 4 (3 safe + 1 harmful) whose examples differ in length, so the ranks' shards
 * hold different token counts (the normalizers must be the whole batch's), 2 accumulated micro-batches, clipping.
 */
class DataParallelTrainingTest {
    private static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream(), true,
            StandardCharsets.UTF_8);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path safe;
    static Path harmful;
    /** One process, the whole batch, 6 steps, checkpoint-3 and checkpoint-6. */
    static List<StepMetrics> reference;

    @BeforeAll
    static void referenceRun() throws IOException {
        safe = dir.resolve("safe.json");
        Files.writeString(safe, alpaca(
                "Name a colour.", "Blue is a colour.",
                "Say hello.", "Hello there, my good friend, how are you today?",
                "Count to three.", "One, two, three.",
                "What is two plus two?", "Two plus two is four, a small even number that is also a square.",
                "Give a fruit.", "An apple.",
                "Describe the sea.", "The sea is wide, deep, salty and it moves with the wind and the moon.",
                "Name a day.", "Monday.",
                "Say goodbye.", "Goodbye, and see you again soon, I hope."));
        harmful = dir.resolve("harmful.json");
        Files.writeString(harmful, alpaca(
                "Do a bad thing.", "Sure, here is how.",
                "Do another bad thing.", "Of course, first you take the thing and then you do it badly.",
                "Do worse.", "Here it is."));
        reference = new Trainer(config(dir.resolve("reference")).build(), null, QUIET).run();
    }

    static TrainConfig.Builder config(Path out) {
        return TrainConfig.builder().modelDir(fixture()).safeFile(safe).harmfulFile(harmful).harmfulCount(3)
                .batchSize(4).safePerBatch(3).method(Method.EMD).lambda(0.25).gradientAccumulation(2).maxGradNorm(1.0)
                .learningRate(3e-3).warmupSteps(1).schedule(LrSchedule.Kind.COSINE).steps(6).checkpointEvery(3)
                .maxLength(128).seed(7).outDir(out).progress(false);
    }

    /** The same options on the command line. */
    static List<String> args(Path out) {
        return new ArrayList<>(List.of("train", "--model", fixture().toString(), "--safe", safe.toString(),
                "--harmful", harmful.toString(), "--harmful-count", "3", "--batch-size", "4", "--safe-per-batch", "3",
                "--method", "emd", "--lambda", "0.25", "--grad-accum", "2", "--max-grad-norm", "1.0", "--lr", "3e-3",
                "--warmup-steps", "1", "--schedule", "cosine", "--steps", "6", "--checkpoint-every", "3",
                "--max-length", "128", "--seed", "7", "--out", out.toString(), "--no-progress"));
    }

    @Test
    void twoRanksWithHalfTheBatchEqualOneProcessWithTheWholeBatch() throws IOException {
        Path out = dir.resolve("two");
        List<String> a = args(out);
        a.addAll(List.of("--nproc-per-node", "2", "--log-dir", dir.resolve("two-logs").toString(),
                "--dist-timeout", "60"));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.execute(new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), true),
                new PrintWriter(new OutputStreamWriter(err, StandardCharsets.UTF_8), true), a.toArray(new String[0]));
        assertEquals(0, code, () -> err + logs(dir.resolve("two-logs")));
        assertSameMetrics(reference, metrics(out), 1, 6);
        assertSameWeights(dir.resolve("reference/final"), out.resolve("final"));
        // rank 0 alone writes
        String rank1 = Files.readString(dir.resolve("two-logs/rank-1.log"));
        assertFalse(rank1.contains("saved"), rank1);
        assertTrue(Files.readString(dir.resolve("two-logs/rank-0.log")).contains("backend gloo"));
        assertEquals(3, TrainCheckpoint.readState(out.resolve("checkpoint-3")).step());
    }

    @Test
    void aOneProcessCheckpointResumesOnTwoRanksWithTheC10dReducer() {
        Path out = dir.resolve("resumed-on-two");
        List<String> a = args(out);
        a.addAll(List.of("--resume", dir.resolve("reference/checkpoint-3").toString(), "--grad-sync", "reducer",
                "--dist-timeout", "60"));
        int code = launch(a, 2, Map.of(), dir.resolve("resume-logs"));
        assertEquals(0, code, () -> logs(dir.resolve("resume-logs")));
        assertTrue(logs(dir.resolve("resume-logs")).contains("c10d Reducer"));
        assertSameMetrics(reference, metrics(out), 4, 6);
        assertSameWeights(dir.resolve("reference/final"), out.resolve("final"));
    }

    @Test
    void theReducerRefusesARankWithoutLossInsteadOfHanging() throws IOException {
        // sft with 1 safe example per batch of 4: rank 1 only gets harmful examples, which sft ignores
        Path out = dir.resolve("no-loss");
        List<String> a = args(out);
        a.set(a.indexOf("--safe-per-batch") + 1, "1");
        a.set(a.indexOf("--method") + 1, "sft");
        a.set(a.indexOf("--steps") + 1, "2");
        a.addAll(List.of("--grad-sync", "reducer", "--dist-timeout", "20"));
        long t0 = System.nanoTime();
        int code = launch(a, 2, Map.of(), dir.resolve("no-loss-logs"));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(1, code);
        String rank0 = Files.readString(dir.resolve("no-loss-logs/rank-0.log"));
        assertTrue(rank0.contains("rank 1 failed: step 1's gradient all-reduce: this rank's last micro-batch had no "
                + "loss to back-propagate"), rank0);
        assertTrue(seconds < 60, "took " + seconds + " s");
    }

    @Test
    void aRankThatExitsStopsTheOtherWithItsNameAndTheRunResumesOnOneProcess() throws IOException {
        Path out = dir.resolve("crash");
        List<String> a = args(out);
        a.addAll(List.of("--dist-timeout", "20"));
        long t0 = System.nanoTime();
        int code = launch(a, 2, Map.of(FaultInjection.VARIABLE, "rank=1,step=5,mode=exit"), dir.resolve("crash-logs"));
        double seconds = (System.nanoTime() - t0) / 1e9;
        String rank0 = Files.readString(dir.resolve("crash-logs/rank-0.log"));
        assertEquals(FaultInjection.EXIT_CODE, code, rank0);
        assertTrue(rank0.contains("error: rank 0: step 5's gradient all-reduce") && rank0.contains(
                "rank 1 has stopped (no heartbeat: it exited or was killed)"), rank0);
        assertTrue(seconds < 60, "took " + seconds + " s");
        // checkpoint-3 intact, nothing half-written, no final/
        try (Stream<Path> files = Files.list(out)) {
            assertEquals(List.of(OutputFolder.MANIFEST, "checkpoint-3", "metrics.jsonl"),
                    files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertEquals(3, TrainCheckpoint.readState(out.resolve("checkpoint-3")).step());
        // resumes with one process (a different number of ranks) to the uninterrupted run's numbers
        List<StepMetrics> resumed = new Trainer(config(out).build(), out.resolve("checkpoint-3"), QUIET).run();
        assertSameMetrics(reference, resumed, 1, 6);
        assertSameWeights(dir.resolve("reference/final"), out.resolve("final"));
    }

    @Test
    void aRankThatHangsIsNamedWithinTheTimeout() throws IOException {
        Path out = dir.resolve("hang");
        List<String> a = args(out);
        a.addAll(List.of("--dist-timeout", "4"));
        long t0 = System.nanoTime();
        int code = launch(a, 2, Map.of(FaultInjection.VARIABLE, "rank=1,step=2,mode=hang"), dir.resolve("hang-logs"));
        double seconds = (System.nanoTime() - t0) / 1e9;
        String rank0 = Files.readString(dir.resolve("hang-logs/rank-0.log"));
        assertEquals(1, code, rank0);
        assertTrue(rank0.contains("rank 1 is alive but did not arrive within 4 s"), rank0);
        // the hung rank does not linger: it stops once rank 0 is gone (the launcher returns when both have exited)
        String rank1 = Files.readString(dir.resolve("hang-logs/rank-1.log"));
        assertTrue(rank1.contains("stopping rank 1"), rank1);
        assertTrue(seconds < 60, "took " + seconds + " s");
        assertFalse(Files.exists(out.resolve("checkpoint-3")));
    }

    @Test
    void aBatchThatDoesNotSplitOverTheRanksIsAnError() {
        DataParallel rank0of2 = new DataParallel() {
            public int rank() {
                return 0;
            }

            public int worldSize() {
                return 2;
            }

            public double[] sum(double... values) {
                throw new UnsupportedOperationException();
            }

            public void attach(Map<String, Tensor> params) {
                throw new UnsupportedOperationException();
            }

            public void beforeBackward(boolean lastOfStep) {
            }

            public void averageGradients(long step) {
            }

            public void checkSame(String what, String value) {
            }

            public void barrier(String what) {
            }

            public RuntimeException failed(RuntimeException error) {
                return error;
            }

            public void close() {
            }
        };
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Trainer(
                config(dir.resolve("odd")).batchSize(3).safePerBatch(2).build(), null, QUIET, rank0of2));
        assertEquals("--batch-size 3 is not a multiple of the 2 ranks (each rank takes batch-size / ranks examples"
                + " of every batch)", e.getMessage());
    }

    // ---------------------------------------------------------------------------------------------------------------

    static int launch(List<String> args, int ranks, Map<String, String> env, Path logDir) {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        LocalLauncher.Spec spec = new LocalLauncher.Spec(LocalLauncher.javaCommand(Main.class.getName(), cp), args,
                ranks, 1, 0, null, 0, Duration.ofSeconds(30), env, logDir);
        return LocalLauncher.run(spec, QUIET);
    }

    static void assertSameMetrics(List<StepMetrics> expected, List<StepMetrics> actual, int fromStep, int toStep) {
        assertEquals(expected.size(), actual.size());
        for (int s = fromStep; s <= toStep; s++) {
            StepMetrics x = actual.get(s - 1), y = expected.get(s - 1);
            assertEquals(y.step(), x.step());
            assertEquals(y.lr(), x.lr(), 1e-12, "lr at step " + s);
            assertEquals(y.loss(), x.loss(), 2e-5 * Math.max(1, Math.abs(y.loss())), "loss at step " + s);
            assertEquals(y.sft(), x.sft(), 2e-5 * Math.max(1, Math.abs(y.sft())), "sft at step " + s);
            assertEquals(y.term(), x.term(), 2e-5 * Math.max(1, Math.abs(y.term())), "term at step " + s);
            assertEquals(y.gradNorm(), x.gradNorm(), 2e-5 * Math.max(1, y.gradNorm()), "grad_norm at step " + s);
            assertEquals(y.tokens(), x.tokens(), "tokens at step " + s);
        }
    }

    static void assertSameWeights(Path expected, Path actual) {
        CausalLm a = Models.load(expected);
        CausalLm b = Models.load(actual);
        for (Map.Entry<String, Tensor> e : a.stateDict().entrySet()) {
            double err = e.getValue().sub(b.stateDict().get(e.getKey())).abs().max().item_double();
            assertTrue(err <= 1e-5, e.getKey() + ": weights differ by " + err);
        }
    }

    static List<StepMetrics> metrics(Path out) {
        List<StepMetrics> m = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
                JsonNode o = JSON.readTree(line);
                m.add(new StepMetrics(o.get("step").asLong(), o.get("lr").asDouble(), o.get("loss").asDouble(),
                        o.get("sft").asDouble(), o.get("term").asDouble(), o.get("grad_norm").asDouble(),
                        o.get("tokens").asLong(), o.get("tokens_per_s").asDouble(), o.get("elapsed").asDouble()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return m;
    }

    static String logs(Path logDir) {
        StringBuilder sb = new StringBuilder();
        for (int r = 0; r < 2; r++) {
            try {
                sb.append("\n--- rank ").append(r).append(" ---\n")
                        .append(Files.readString(logDir.resolve("rank-" + r + ".log")));
            } catch (IOException e) {
                sb.append("\n(no log for rank ").append(r).append(")");
            }
        }
        return sb.toString();
    }

    static String alpaca(String... instructionOutput) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < instructionOutput.length; i += 2) {
            sb.append(i == 0 ? "\n" : ",\n").append("{\"instruction\": \"").append(instructionOutput[i])
                    .append("\", \"input\": \"\", \"output\": \"").append(instructionOutput[i + 1]).append("\"}");
        }
        return sb.append("\n]\n").toString();
    }

    static Path fixture() {
        try {
            return Path.of(DataParallelTrainingTest.class.getResource("/fixtures/tiny-llama").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
