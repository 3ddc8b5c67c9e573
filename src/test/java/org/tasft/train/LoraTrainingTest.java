package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.train.TrainerTesting.emd;
import static org.tasft.train.TrainerTesting.maxAbsDiff;
import static org.tasft.train.TrainerTesting.trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;
import org.tasft.model.lora.Lora;

/** LoRA in the training loop: only adapters train, merged checkpoints, PEFT adapters, exact resume. */
class LoraTrainingTest {
    @TempDir
    Path dir;

    /** TA-SFT with LoRA r 4 on q_proj/v_proj, a learning rate large enough to move the adapters visibly. */
    private TrainConfig.Builder lora(String out) {
        return emd(dir, out).loraRank(4).loraAlpha(8).loraDropout(0.0).learningRate(1e-2).steps(3);
    }

    private static Tensor ids() {
        torch.manual_seed(123);
        return torch.randint(3, 384, new long[] {2, 9}, new TensorOptions(torch.ScalarType.Long));
    }

    private static Tensor logits(CausalLm model, Tensor ids) {
        model.module().train(false);
        try (NoGradGuard g = new NoGradGuard()) {
            return model.forward(ids);
        }
    }

    @Test
    void onlyTheAdaptersTrainAndFinalHasThemMerged() throws IOException {
        TrainConfig config = lora("run").saveAdapters(true).build();
        Trainer t = trainer(config);
        t.run();
        CausalLm base = Models.load(TrainTesting.fixture("tiny-llama"));
        Map<String, Tensor> b = base.stateDict();

        // The live model's base weights never moved.
        for (Map.Entry<String, Tensor> e : t.model().stateDict().entrySet()) {
            assertEquals(0.0, maxAbsDiff(e.getValue(), b.get(e.getKey())), 0.0, e.getKey() + " changed");
        }
        // AdamW's state is the adapters' alone.
        JsonNode steps = new ObjectMapper().readTree(config.outDir().resolve("checkpoint-3/optimizer.json").toFile())
                .get("steps");
        List<String> names = new ArrayList<>();
        steps.fieldNames().forEachRemaining(names::add);
        assertEquals(2 * 2 * 2, names.size(), names.toString()); // 2 layers x (q, v) x (A, B)
        for (String n : names) {
            assertTrue(n.startsWith(Lora.PEFT_PREFIX) && (n.endsWith("lora_A.weight") || n.endsWith("lora_B.weight"))
                    && (n.contains("q_proj") || n.contains("v_proj")), n);
            assertEquals(3, steps.get(n).asLong(), n);
        }

        // final/: the targeted projections changed, nothing else did; its logits are the adapted model's.
        CausalLm fin = Models.load(config.outDir().resolve("final"));
        for (Map.Entry<String, Tensor> e : fin.stateDict().entrySet()) {
            double d = maxAbsDiff(e.getValue(), b.get(e.getKey()));
            boolean targeted = e.getKey().contains("q_proj") || e.getKey().contains("v_proj");
            if (targeted) {
                assertTrue(d > 1e-4, e.getKey() + " should carry the merged update, differs by " + d);
            } else {
                assertEquals(0.0, d, 0.0, e.getKey());
            }
        }
        Tensor ids = ids();
        Tensor adapted = logits(t.model(), ids);
        double diff = maxAbsDiff(logits(fin, ids), adapted);
        assertTrue(diff <= 1e-5, "merged vs adapted logits differ by " + diff);
        assertTrue(maxAbsDiff(logits(base, ids), adapted) > 1e-3, "the adapters should change the logits");

        // --save-adapters: a PEFT folder that gives the same model on the base.
        Path adapters = config.outDir().resolve(Trainer.ADAPTER_DIR);
        assertTrue(Files.isRegularFile(adapters.resolve(Lora.ADAPTER_WEIGHTS)));
        JsonNode cfg = new ObjectMapper().readTree(adapters.resolve(Lora.ADAPTER_CONFIG).toFile());
        assertEquals(4, cfg.get("r").asInt());
        assertEquals(8, cfg.get("lora_alpha").asDouble());
        Lora.loadAdapters(base, adapters);
        assertEquals(0.0, maxAbsDiff(logits(base, ids), adapted), 0.0);
        // the checkpoint keeps its own copy for resuming
        assertTrue(Files.isRegularFile(config.outDir().resolve("checkpoint-3/adapter/" + Lora.ADAPTER_WEIGHTS)));
    }

    @Test
    void resumeWithLoraEqualsUninterruptedRun() {
        // dropout > 0: the resumed run must also draw the same dropout masks
        TrainConfig.Builder b = lora("full").loraDropout(0.1).steps(6).checkpointEvery(3);
        List<StepMetrics> full = trainer(b.build()).run();
        TrainConfig config = lora("broken").loraDropout(0.1).steps(6).checkpointEvery(3).build();
        trainer(config).runUntil(4);
        List<StepMetrics> m = new Trainer(config, config.outDir().resolve("checkpoint-3"), TrainerTesting.QUIET)
                .run();
        assertEquals(6, m.size());
        for (int i = 0; i < 6; i++) {
            assertEquals(full.get(i).loss(), m.get(i).loss(), 1e-6, "loss at step " + (i + 1));
            assertEquals(full.get(i).term(), m.get(i).term(), 1e-6, "term at step " + (i + 1));
            assertEquals(full.get(i).gradNorm(), m.get(i).gradNorm(), 1e-6 * Math.max(1, full.get(i).gradNorm()),
                    "grad_norm at step " + (i + 1));
        }
        CausalLm a = Models.load(dir.resolve("full/final"));
        CausalLm c = Models.load(config.outDir().resolve("final"));
        for (Map.Entry<String, Tensor> e : a.stateDict().entrySet()) {
            assertTrue(maxAbsDiff(e.getValue(), c.stateDict().get(e.getKey())) <= 1e-6, e.getKey());
        }
    }

    @Test
    void resumingWithOtherLoraSettingsIsRefused() {
        TrainConfig config = lora("run").steps(2).build();
        trainer(config).run();
        Path ck = config.outDir().resolve("checkpoint-2");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(emd(dir, "run").steps(4).build(), ck, TrainerTesting.QUIET));
        assertTrue(e.getMessage().contains("was trained with LoRA"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(lora("run").loraRank(2).steps(4).build(), ck, TrainerTesting.QUIET));
        assertTrue(e.getMessage().contains("r 4") && e.getMessage().contains("r 2"), e.getMessage());

        TrainConfig plain = emd(dir, "plain").steps(1).build();
        trainer(plain).run();
        e = assertThrows(IllegalArgumentException.class, () -> new Trainer(lora("plain").steps(2).build(),
                plain.outDir().resolve("checkpoint-1"), TrainerTesting.QUIET));
        assertTrue(e.getMessage().contains("without LoRA"), e.getMessage());
    }

    @Test
    void badLoraOptionsNameTheOption() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(lora("x").loraTargets(List.of("w_proj")).build(), null, TrainerTesting.QUIET));
        assertTrue(e.getMessage().contains("w_proj") && e.getMessage().contains("q_proj"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> lora("x").loraRank(-1).build());
        assertTrue(e.getMessage().startsWith("--lora-rank"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> lora("x").loraAlpha(Double.NaN).build());
        assertTrue(e.getMessage().startsWith("--lora-alpha"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> lora("x").loraDropout(1.0).build());
        assertTrue(e.getMessage().startsWith("--lora-dropout"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> emd(dir, "x").saveAdapters(true).build());
        assertTrue(e.getMessage().startsWith("--save-adapters"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> emd(dir, "x").loraAlpha(4).build());
        assertTrue(e.getMessage().contains("need --lora-rank"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("x")));
    }
}
