package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.train.TrainerTesting.emd;
import static org.tasft.train.TrainerTesting.lines;
import static org.tasft.train.TrainerTesting.maxAbsDiff;
import static org.tasft.train.TrainerTesting.sft;
import static org.tasft.train.TrainerTesting.trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.checkpoint.CheckpointException;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;

class TrainerTest {
    @TempDir
    Path dir;

    @Test
    void sftLossDecreasesAndOutputsAreWritten() throws IOException {
        TrainConfig config = sft(dir, "run").steps(20).build();
        List<StepMetrics> m = trainer(config).run();
        assertEquals(20, m.size());
        double first = m.get(0).loss(), last = m.get(19).loss();
        assertTrue(last < 0.5 * first, "loss " + first + " -> " + last);
        Path out = config.outDir();
        List<String> jsonl = lines(out.resolve("metrics.jsonl"));
        assertEquals(20, jsonl.size());
        JsonNode line = new ObjectMapper().readTree(jsonl.get(19));
        for (String key : List.of("step", "lr", "loss", "sft", "term", "grad_norm", "tokens", "tokens_per_s",
                "elapsed")) {
            assertTrue(line.has(key), "metrics.jsonl lacks " + key + ": " + jsonl.get(19));
        }
        assertEquals(20, line.get("step").asLong());
        assertTrue(line.get("tokens").asLong() > 0);
        byte[] png = Files.readAllBytes(out.resolve("loss.png"));
        assertTrue(png.length > 100 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G', "loss.png is not a PNG");
        assertTrue(Files.isRegularFile(out.resolve("final/model.safetensors")));
        assertTrue(Files.isRegularFile(out.resolve("final/tokenizer.json")));
        assertTrue(Files.isRegularFile(out.resolve("checkpoint-20/trainer_state.json")));
    }

    @Test
    void sameSeedRepeatsExactly() {
        List<StepMetrics> a = trainer(emd(dir, "a").steps(3).build()).run();
        List<StepMetrics> b = trainer(emd(dir, "b").steps(3).build()).run();
        for (int i = 0; i < 3; i++) {
            assertEquals(a.get(i).loss(), b.get(i).loss(), 0.0);
            assertEquals(a.get(i).term(), b.get(i).term(), 0.0);
            assertEquals(a.get(i).gradNorm(), b.get(i).gradNorm(), 0.0);
        }
        assertTrue(a.get(2).term() != 0.0, "the emd term should be non-zero");
    }

    @Test
    void accumulatingTwoMicroBatchesEqualsOneBatchOfTwiceTheSize() {
        Path same = TrainerTesting.alpaca(dir.resolve("same.json"), 8, "Say hello.", "Hello there, friend.");
        CausalLm before = Models.load(TrainTesting.fixture("tiny-llama"));
        Trainer accumulated = trainer(sft(dir, "acc").safeFile(same).batchSize(2).gradientAccumulation(2).steps(1)
                .maxGradNorm(0.5).build());
        Trainer whole = trainer(sft(dir, "whole").safeFile(same).batchSize(4).steps(1).maxGradNorm(0.5).build());
        StepMetrics ma = accumulated.run().get(0);
        StepMetrics mw = whole.run().get(0);
        assertEquals(mw.loss(), ma.loss(), 1e-5);
        assertEquals(mw.gradNorm(), ma.gradNorm(), 1e-5 * mw.gradNorm());
        assertEquals(mw.tokens(), ma.tokens());
        Map<String, Tensor> p0 = before.stateDict();
        Map<String, Tensor> pa = accumulated.model().stateDict();
        Map<String, Tensor> pw = whole.model().stateDict();
        for (String name : p0.keySet()) {
            Tensor da = pa.get(name).sub(p0.get(name));
            Tensor dw = pw.get(name).sub(p0.get(name));
            double err = maxAbsDiff(da, dw);
            assertTrue(err <= 1e-5, name + ": updates differ by " + err);
        }
    }

    @Test
    void clippingBoundsTheGlobalNorm() {
        Tensor a = torch.ones(new long[] {3, 4}, new TensorOptions(torch.ScalarType.Float)).requires_grad_(true);
        Tensor b = torch.ones(new long[] {5}, new TensorOptions(torch.ScalarType.Float)).requires_grad_(true);
        a.mul(new Scalar(3.0)).sum().add(b.mul(new Scalar(4.0)).sum()).backward();
        double expected = Math.sqrt(12 * 9 + 5 * 16);
        double norm = Gradients.clipGradNorm(List.of(a, b), 1.0);
        assertEquals(expected, norm, 1e-5);
        double after = Math.sqrt(Math.pow(a.grad().norm().item_double(), 2) + Math.pow(b.grad().norm().item_double(), 2));
        assertTrue(after <= 1.0 + 1e-6 && after > 0.999, "norm after clipping " + after);
        // below the bound: unchanged
        assertEquals(after, Gradients.clipGradNorm(List.of(a, b), 10.0), 1e-6);
        assertEquals(after, Math.sqrt(Math.pow(a.grad().norm().item_double(), 2)
                + Math.pow(b.grad().norm().item_double(), 2)), 1e-7);
    }

    @Test
    void clippingInTrainingKeepsTheUpdateBounded() {
        List<StepMetrics> m = trainer(sft(dir, "clip").steps(2).maxGradNorm(1e-3).build()).run();
        assertTrue(m.get(0).gradNorm() > 1e-3, "grad norm before clipping is reported");
    }

    @Test
    void checkpointLoadsWithIdenticalLogits() {
        TrainConfig config = emd(dir, "ck").steps(2).build();
        Trainer t = trainer(config);
        t.run();
        Tensor ids = torch.randint(3, 384, new long[] {2, 7}, new TensorOptions(torch.ScalarType.Long));
        try (NoGradGuard g = new NoGradGuard()) {
            Tensor expected = t.model().forward(ids);
            for (String folder : List.of("checkpoint-2", "final")) {
                CausalLm loaded = Models.load(config.outDir().resolve(folder));
                assertEquals(0.0, maxAbsDiff(loaded.forward(ids), expected), 0.0, folder);
            }
        }
    }

    @Test
    void resumeEqualsUninterruptedRun() {
        List<StepMetrics> full = trainer(emd(dir, "full").steps(6).checkpointEvery(3).build()).run();
        TrainConfig config = emd(dir, "broken").steps(6).checkpointEvery(3).build();
        trainer(config).runUntil(4); // "killed" after step 4; checkpoint-3 is the last one
        assertEquals(4, lines(config.outDir().resolve("metrics.jsonl")).size());
        Trainer resumed = new Trainer(config, config.outDir().resolve("checkpoint-3"), TrainerTesting.QUIET);
        List<StepMetrics> m = resumed.run();
        assertEquals(6, m.size());
        for (int i = 0; i < 6; i++) {
            StepMetrics x = m.get(i), y = full.get(i);
            assertEquals(y.step(), x.step());
            assertEquals(y.lr(), x.lr(), 1e-12, "lr at step " + (i + 1));
            assertEquals(y.loss(), x.loss(), 1e-6, "loss at step " + (i + 1));
            assertEquals(y.sft(), x.sft(), 1e-6, "sft at step " + (i + 1));
            assertEquals(y.term(), x.term(), 1e-6, "term at step " + (i + 1));
            assertEquals(y.gradNorm(), x.gradNorm(), 1e-6 * Math.max(1, y.gradNorm()), "grad_norm at step " + (i + 1));
        }
        assertEquals(6, lines(config.outDir().resolve("metrics.jsonl")).size());
        CausalLm a = Models.load(dir.resolve("full/final"));
        CausalLm b = Models.load(config.outDir().resolve("final"));
        for (Map.Entry<String, Tensor> e : a.stateDict().entrySet()) {
            assertTrue(maxAbsDiff(e.getValue(), b.stateDict().get(e.getKey())) <= 1e-6, e.getKey());
        }
    }

    @Test
    void aFailedCheckpointLeavesThePreviousOneIntact() {
        TrainConfig config = sft(dir, "crash").steps(4).checkpointEvery(2).build();
        TrainCheckpoint.beforeCommit = partial -> {
            if (partial.getFileName().toString().contains("checkpoint-4")) {
                throw new CheckpointException("simulated crash while writing " + partial);
            }
        };
        try {
            assertThrows(CheckpointException.class, () -> trainer(config).run());
        } finally {
            TrainCheckpoint.beforeCommit = p -> { };
        }
        Path previous = config.outDir().resolve("checkpoint-2");
        assertEquals(2, TrainCheckpoint.readState(previous).step());
        assertFalse(Files.exists(config.outDir().resolve("checkpoint-4")));
        Models.load(previous);
        // and training resumes from it
        List<StepMetrics> m = new Trainer(config, previous, TrainerTesting.QUIET).run();
        assertEquals(4, m.size());
        assertEquals(4, TrainCheckpoint.readState(config.outDir().resolve("checkpoint-4")).step());
    }

    @Test
    void everyMethodTrains() {
        for (Method method : Method.values()) {
            StepMetrics m = trainer(emd(dir, "m-" + method).method(method).steps(1).build()).run().get(0);
            assertTrue(Double.isFinite(m.loss()) && Double.isFinite(m.gradNorm()), method + ": " + m);
        }
    }

    @Test
    void badConfigNamesTheOption() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> sft(dir, "x").batchSize(0).build());
        assertEquals("--batch-size must be >= 1, got 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> sft(dir, "x").harmfulFile(TrainerTesting.harmful(dir)).build());
        assertTrue(e.getMessage().startsWith("--safe-per-batch is required"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> sft(dir, "x").method(null).build());
        assertEquals("--method is required", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Method.parse("dpo"));
        assertEquals("unknown method 'dpo': expected one of emd, sft, nlcl, ga, kto, stl, emd-cap", e.getMessage());
    }
}
