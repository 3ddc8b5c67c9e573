package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.data.Batch;
import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.model.CausalLm;
import org.tasft.model.HostTensors;
import org.tasft.model.Models;
import org.tasft.model.Placement;
import org.tasft.model.Precision;
import org.tasft.model.lora.Lora;
import org.tasft.model.lora.LoraConfig;
import org.tasft.train.TaSft.EmbeddingSource;

/**
 * Training in bfloat16 on the CPU (its kernels run bf16 matmuls here), on the tiny-llama fixture, against the same
 * steps in float32.
 *
 * <p>The stated bf16 tolerance: bf16 keeps 8 significant bits (rounding error 2^-9 = 0.2% per value); through the
 * two layers, the softmax and the losses that grows to a few percent. So: the loss within 2% of float32's, every
 * gradient within 5% (relative L2 error), over three TA-SFT steps with AdamW.
 */
class ReducedPrecisionTrainingTest {
    static final Placement BF16 = new Placement("cpu", Precision.BFLOAT16);
    static final double LOSS_TOL = 0.02;
    static final double GRAD_TOL = 0.05;
    private static final boolean[] MIXED = {false, true, false, true};

    @TempDir
    Path dir;

    private static CausalLm model(Placement placement) {
        return Models.load(TrainTesting.fixture("tiny-llama"), placement);
    }

    private static Map<String, Tensor> trainable(CausalLm model) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        model.stateDict().forEach((name, p) -> {
            if (p.requires_grad()) {
                out.put(name, p);
            }
        });
        return out;
    }

    @Test
    void weightsAndLogitsStayInBfloat16() {
        CausalLm m = model(BF16);
        for (Map.Entry<String, Tensor> e : m.stateDict().entrySet()) {
            assertEquals(ScalarType.BFloat16, e.getValue().scalar_type().intern(), e.getKey());
        }
        Batch batch = TrainTesting.batch(3, MIXED);
        assertEquals(ScalarType.BFloat16, m.forward(batch.inputIds()).scalar_type().intern(),
                "the logits are not widened to float32");
    }

    @Test
    void theLossOfBfloat16LogitsIsSummedInFloat32() {
        // 64 rows over a vocabulary of 3000: in bf16 the log-probabilities (about -8) and their sum would be off by
        // percents; the loss must be float32's on the same bf16 values, and the gradient must reach the logits in bf16.
        long rows = 64, vocab = 3000;
        Tensor logits = torch.arange(new Scalar(rows * vocab)).mul(new Scalar(0.37)).sin().mul(new Scalar(6))
                .view(rows, vocab).to(ScalarType.BFloat16).requires_grad_(true);
        long[] t = new long[(int) rows];
        for (int i = 0; i < rows; i++) {
            t[i] = i == 5 ? Batch.IGNORE_INDEX : (37L * i) % vocab;
        }
        Tensor targets = HostTensors.longs(t, 1, rows, new Device("cpu")).view(rows);
        Tensor loss = StepForward.nllSum(new StepForward.Rows(logits, targets, rows - 1, 1));
        Tensor want = torch.nll_loss(torch.log_softmax(logits.detach().to(ScalarType.Float), 1), targets,
                new TensorOptional(), 2, Batch.IGNORE_INDEX);
        assertEquals(ScalarType.Float, loss.scalar_type().intern());
        assertEquals(want.item_double(), loss.item_double(), 1e-5 * Math.abs(want.item_double()));
        loss.backward();
        assertEquals(ScalarType.BFloat16, logits.grad().scalar_type().intern());
    }

    @Test
    void taSftStepsInBfloat16TrackFloat32() {
        CausalLm full = model(Placement.CPU_FLOAT32);
        CausalLm half = model(BF16);
        JavaAdamW fullOpt = new JavaAdamW(trainable(full), 0.01);
        JavaAdamW halfOpt = new JavaAdamW(trainable(half), 0.01);
        TaSft objective = new TaSft(0.25, Reduction.SEQUENCE, EmbeddingSource.INPUT);
        for (int step = 0; step < 3; step++) {
            Batch batch = TrainTesting.batch(20 + step, MIXED);
            fullOpt.zeroGrad();
            halfOpt.zeroGrad();
            StepLoss a = objective.step(full, batch);
            StepLoss b = objective.step(half, batch);
            assertEquals(a.total(), b.total(), LOSS_TOL * Math.abs(a.total()), "step " + step + " loss");
            assertEquals(a.term(), b.term(), LOSS_TOL * Math.abs(a.term()) + 1e-3, "step " + step + " EMD term");
            Map<String, Tensor> ga = TrainTesting.grads(full);
            Map<String, Tensor> gb = TrainTesting.grads(half);
            for (Tensor g : gb.values()) {
                assertEquals(ScalarType.BFloat16, g.scalar_type().intern());
            }
            TrainTesting.assertGradsClose(gb, ga, GRAD_TOL, "bf16 step " + step);
            fullOpt.step(1e-3);
            halfOpt.step(1e-3);
        }
        // AdamW: float32 master weights and state; the bf16 weights are the masters rounded
        String q = "model.layers.0.self_attn.q_proj.weight";
        Tensor master = halfOpt.master(q);
        assertEquals(ScalarType.Float, master.scalar_type().intern());
        assertEquals(ScalarType.Float, halfOpt.stateTensors().get(q + ".exp_avg").scalar_type().intern());
        assertEquals(ScalarType.Float, halfOpt.stateTensors().get(q + ".exp_avg_sq").scalar_type().intern());
        Tensor weight = half.stateDict().get(q);
        assertTrue(torch.equal(weight, master.to(ScalarType.BFloat16)), "weight = bf16(master)");
        double drift = TrainTesting.relativeError(master, full.stateDict().get(q).detach());
        assertTrue(drift < 1e-2, "bf16 training's master weights drift " + drift + " from float32's");
    }

    @Test
    void loraOnABfloat16BaseTrainsFloat32Adapters() {
        LoraConfig config = new LoraConfig(4, 8, 0.0, List.of("q_proj", "v_proj"));
        CausalLm full = model(Placement.CPU_FLOAT32);
        CausalLm half = model(BF16);
        Lora a = Lora.apply(full, config, 7);
        Lora b = Lora.apply(half, config, 7);
        // make B non-zero so that both A and B get gradients
        for (Lora l : List.of(a, b)) {
            try (org.bytedeco.pytorch.NoGradGuard g = new org.bytedeco.pytorch.NoGradGuard()) {
                torch.manual_seed(5);
                l.namedParameters().forEach((name, p) -> {
                    if (name.contains("lora_B")) {
                        p.copy_(torch.randn_like(p).mul(new org.bytedeco.pytorch.Scalar(0.02)));
                    }
                });
            }
        }
        Batch batch = TrainTesting.batch(31, MIXED);
        TaSft objective = new TaSft(0.25, Reduction.TOKEN, EmbeddingSource.INPUT);
        StepLoss la = objective.step(full, batch);
        StepLoss lb = objective.step(half, batch);
        assertEquals(la.total(), lb.total(), LOSS_TOL * Math.abs(la.total()));
        for (Map.Entry<String, Tensor> e : b.namedParameters().entrySet()) {
            Tensor p = e.getValue();
            assertEquals(ScalarType.Float, p.scalar_type().intern(), e.getKey() + ": adapters stay float32");
            assertEquals(ScalarType.Float, p.grad().scalar_type().intern(), e.getKey());
            double err = TrainTesting.relativeError(p.grad(), a.namedParameters().get(e.getKey()).grad());
            assertTrue(err < GRAD_TOL, e.getKey() + ": gradient relative error " + err);
        }
        for (Map.Entry<String, Tensor> e : half.stateDict().entrySet()) {
            assertEquals(ScalarType.BFloat16, e.getValue().scalar_type().intern(), e.getKey() + ": base stays bf16");
            assertTrue(!e.getValue().requires_grad(), e.getKey() + ": base frozen");
        }
        // AdamW over the adapters keeps no master copy: they are float32 already
        JavaAdamW opt = new JavaAdamW(b.namedParameters(), 0.0);
        b.namedParameters().keySet().forEach(name -> assertEquals(null, opt.master(name)));
    }

    @Test
    void aBfloat16CheckpointLoadsAsBfloat16Exactly() throws IOException {
        CausalLm half = model(BF16);
        Path saved = dir.resolve("bf16");
        Models.save(half, saved, null, ModelFolderWriter.Options.defaults().dtype(ScalarType.BFloat16));
        CausalLm again = Models.load(saved, BF16);
        for (Map.Entry<String, Tensor> e : half.stateDict().entrySet()) {
            Tensor t = again.stateDict().get(e.getKey());
            assertEquals(ScalarType.BFloat16, t.scalar_type().intern(), e.getKey());
            assertTrue(torch.equal(t, e.getValue()), e.getKey() + ": bit-exact");
        }
    }
}
