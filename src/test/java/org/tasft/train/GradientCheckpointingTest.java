package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tasft.data.Batch;
import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;
import org.tasft.model.lora.Lora;
import org.tasft.model.lora.LoraConfig;
import org.tasft.train.TaSft.EmbeddingSource;

/**
 * --gradient-checkpointing: a step with each decoder layer recomputed in backward gives the plain step's loss and
 * gradients (float32: the same operations on the same values; only the order of a few gradient sums differs), for
 * full fine-tuning and LoRA with dropout (the recomputation replays the same dropout masks), on Llama and GPT-2.
 */
class GradientCheckpointingTest {
    private static final boolean[] MIXED = {false, true, false, true};
    private static final double TOL = 1e-5;

    private static CausalLm model(String fixture, boolean checkpointing) {
        CausalLm m = Models.load(TrainTesting.fixture(fixture));
        m.module().train(true);
        m.gradientCheckpointing(checkpointing);
        return m;
    }

    private static Batch batch(String fixture, long seed) {
        Batch b = TrainTesting.batch(seed, MIXED);
        long vocab = Models.load(TrainTesting.fixture(fixture)).config().vocabSize();
        return vocab >= TrainTesting.VOCAB ? b
                : new Batch(b.inputIds().remainder(new Scalar(vocab)), b.labels(), b.attentionMask(), b.harmful());
    }

    private static void assertSameGradients(Map<String, Tensor> plain, Map<String, Tensor> checkpointed) {
        assertEquals(plain.keySet(), checkpointed.keySet());
        for (String name : plain.keySet()) {
            Tensor a = plain.get(name).grad();
            Tensor b = checkpointed.get(name).grad();
            assertTrue(a.defined() && b.defined(), name + ": gradient missing");
            double err = TrainTesting.relativeError(b, a);
            assertTrue(err <= TOL, name + ": checkpointed gradient differs by " + err);
        }
    }

    private static Map<String, Tensor> trainable(CausalLm m) {
        Map<String, Tensor> out = new java.util.LinkedHashMap<>();
        m.stateDict().forEach((n, p) -> {
            if (p.requires_grad()) {
                out.put(n, p);
            }
        });
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-llama-tied", "tiny-gpt2"})
    void fullFineTuningGradientsEqualThePlainStep(String fixture) {
        Batch batch = batch(fixture, 11);
        TaSft objective = new TaSft(0.5, Reduction.SEQUENCE, EmbeddingSource.INPUT);
        CausalLm plain = model(fixture, false);
        CausalLm ckpt = model(fixture, true);
        assertTrue(ckpt.gradientCheckpointing());
        torch.manual_seed(3);
        StepLoss a = objective.step(plain, batch);
        torch.manual_seed(3);
        StepLoss b = objective.step(ckpt, batch, ShardTotals.SINGLE_PROCESS); // the losses' backward alone
        Map<String, Tensor> params = trainable(ckpt);
        String head = params.containsKey("lm_head.weight") ? "lm_head.weight" // else tied to the embedding
                : params.keySet().stream().filter(n -> n.contains("wte") || n.contains("embed_tokens")).findFirst()
                        .orElseThrow();
        String layer = params.keySet().stream().filter(n -> n.contains("layers.0.") || n.contains("h.0."))
                .findFirst().orElseThrow();
        assertTrue(params.get(head).grad().defined(), "the head's gradient comes from the losses' backward");
        assertFalse(params.get(layer).grad().defined(), "the layers wait for their recomputation");
        ckpt.backwardCheckpointedLayers();
        assertEquals(a.total(), b.total(), 1e-6 * Math.abs(a.total()));
        assertSameGradients(trainable(plain), trainable(ckpt));
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-gpt2"})
    void loraWithDropoutGradientsEqualThePlainStep(String fixture) {
        List<String> targets = fixture.contains("gpt2") ? List.of("c_attn", "c_fc") : List.of("q_proj", "v_proj",
                "down_proj");
        LoraConfig config = new LoraConfig(4, 8, 0.1, targets);
        Batch batch = batch(fixture, 12);
        Objective objective = new TaSft(0.5, Reduction.TOKEN, EmbeddingSource.INPUT);
        CausalLm plain = model(fixture, false);
        CausalLm ckpt = model(fixture, true);
        Lora la = Lora.apply(plain, config, 9);
        Lora lb = Lora.apply(ckpt, config, 9);
        for (Lora l : List.of(la, lb)) { // non-zero B, so that A gets a gradient too
            torch.manual_seed(5);
            try (NoGradGuard g = new NoGradGuard()) {
                l.namedParameters().forEach((n, p) -> {
                    if (n.contains("lora_B")) {
                        p.copy_(torch.randn_like(p).mul(new Scalar(0.05)));
                    }
                });
            }
        }
        torch.manual_seed(4);
        StepLoss a = objective.step(plain, batch);
        Tensor afterPlain = torch.rand(new long[] {4});
        torch.manual_seed(4);
        StepLoss b = objective.step(ckpt, batch);
        Tensor afterCheckpointed = torch.rand(new long[] {4});
        assertEquals(a.total(), b.total(), 1e-6 * Math.abs(a.total()));
        assertSameGradients(la.namedParameters(), lb.namedParameters());
        assertTrue(torch.equal(afterPlain, afterCheckpointed), "the generator ends where the plain step leaves it");
        for (Tensor p : ckpt.stateDict().values()) {
            assertFalse(p.grad().defined(), "the frozen base gets no gradient");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sft", "nlcl", "kto"})
    void everyObjectiveGetsTheSameGradients(String method) {
        Batch batch = batch("tiny-llama", 13);
        Objectives.Options options = Objectives.Options.defaults();
        Method m = Method.parse(method);
        if (m.needsReference()) {
            CausalLm reference = Models.load(TrainTesting.fixture("tiny-llama"));
            reference.module().train(false);
            options = options.reference(reference);
        }
        Objective objective = m.objective(options);
        CausalLm plain = model("tiny-llama", false);
        CausalLm ckpt = model("tiny-llama", true);
        StepLoss a = objective.step(plain, batch);
        StepLoss b = objective.step(ckpt, batch);
        assertEquals(a.total(), b.total(), 1e-6 * Math.abs(a.total()) + 1e-9);
        assertSameGradients(trainable(plain), trainable(ckpt));
    }
}
