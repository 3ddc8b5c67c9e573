package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tasft.data.Batch;
import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;
import org.tasft.model.lora.Lora;
import org.tasft.model.lora.LoraConfig;
import org.tasft.train.TaSft.EmbeddingSource;

/**
 * The fused LM head step ({@link FusedHeadStep}, {@code --fused-head on}) against the logits path ({@code off}) on the
 * same model and batch: the loss values and EVERY parameter's gradient within fp32 tolerance, for emd (both
 * reductions, both embeddings), sft and stl's objective, untied (tiny-llama) and tied (tiny-llama-tied, tiny-gpt2)
 * heads, mixed, all-safe and all-harmful batches, and LoRA (frozen head, adapters below it).
 */
class FusedHeadStepTest {
    private static final double LAMBDA = 0.5;

    private static CausalLm load(String fixture) {
        return Models.load(TrainTesting.fixture(fixture));
    }

    private static Objective objective(String method, Reduction reduction, EmbeddingSource source, FusedHead fused) {
        return Method.parse(method).objective(Objectives.Options.defaults().lambda(LAMBDA).reduction(reduction)
                .embedding(source).fusedHead(fused));
    }

    /** Runs both paths on fresh copies of the model and compares values and every gradient. */
    private static void assertSameStep(String fixture, String method, Reduction reduction, EmbeddingSource source,
            boolean[] harmful, long seed) {
        Batch batch = TrainTesting.batch(seed, harmful);
        CausalLm fused = load(fixture);
        assertTrue(FusedHead.AUTO.use(fused), "auto picks the fused head for a float32 CPU model");
        StepLoss a = objective(method, reduction, source, FusedHead.ON).step(fused, batch);
        CausalLm plain = load(fixture);
        StepLoss b = objective(method, reduction, source, FusedHead.OFF).step(plain, batch);
        String what = fixture + " " + method + " " + reduction + " " + source;
        assertEquals(b.total(), a.total(), 1e-5 * (1 + Math.abs(b.total())), what + ": total");
        assertEquals(b.sft(), a.sft(), 1e-5 * (1 + Math.abs(b.sft())), what + ": sft");
        assertEquals(b.term(), a.term(), 1e-5 * (1 + Math.abs(b.term())), what + ": term");
        assertEquals(b.safeTokens(), a.safeTokens(), what);
        assertEquals(b.harmfulTokens(), a.harmfulTokens(), what);
        assertEquals(b.safeSequences(), a.safeSequences(), what);
        assertEquals(b.harmfulSequences(), a.harmfulSequences(), what);
        assertAllGradientsClose(fused.stateDict(), plain.stateDict(), what);
    }

    static void assertAllGradientsClose(Map<String, Tensor> actual, Map<String, Tensor> expected, String what) {
        int compared = 0;
        for (Map.Entry<String, Tensor> e : expected.entrySet()) {
            Tensor want = e.getValue().grad();
            Tensor got = actual.get(e.getKey()).grad();
            assertEquals(want.defined(), got.defined(), what + ": " + e.getKey() + " gradient defined in one only");
            if (!want.defined()) {
                continue;
            }
            double norm = want.norm().item_double();
            double err = got.sub(want).norm().item_double() / Math.max(norm, 1e-12);
            assertTrue(norm == 0 ? got.norm().item_double() < 1e-7 : err <= 2e-5,
                    what + ": " + e.getKey() + " gradient relative error " + err + " (norm " + norm + ")");
            compared++;
        }
        assertTrue(compared > 0 || expected.values().stream().noneMatch(t -> t.grad().defined()), what);
    }

    @ParameterizedTest(name = "{0} {1} {2} {3} interleaved={4}")
    @CsvSource({
        "tiny-llama, emd, SEQUENCE, INPUT, true",
        "tiny-llama, emd, TOKEN, LM_HEAD, false",
        "tiny-llama-tied, emd, SEQUENCE, INPUT, true",
        "tiny-llama-tied, emd, TOKEN, INPUT, false",
        "tiny-gpt2, emd, SEQUENCE, INPUT, true",
        "tiny-llama, sft, SEQUENCE, INPUT, true",
        "tiny-llama-tied, sft, SEQUENCE, INPUT, false",
        "tiny-gpt2, stl, SEQUENCE, INPUT, true"})
    void fusedStepEqualsTheLogitsStep(String fixture, String method, Reduction reduction, EmbeddingSource source,
            boolean interleaved) {
        boolean[] harmful = interleaved ? new boolean[] {false, true, false, true}
                : new boolean[] {false, false, true, true};
        assertSameStep(fixture, method, reduction, source, harmful, 11);
    }

    @Test
    void theOptionReachesTheObjectives() {
        for (FusedHead f : FusedHead.values()) {
            assertEquals(f, FusedHead.parse(f.id().toUpperCase(java.util.Locale.ROOT)));
            Objectives.Options o = Objectives.Options.defaults().fusedHead(f);
            assertEquals(f, ((TaSft) Method.EMD.objective(o)).fusedHead());
            assertEquals(f, ((Sft) Method.SFT.objective(o)).fusedHead());
            assertEquals(f, ((Sft) Method.STL.objective(o)).fusedHead());
            assertEquals(f, o.lambda(0.3).reduction(Reduction.TOKEN).fusedHead(), "withers keep it");
        }
        assertEquals(FusedHead.AUTO, Objectives.Options.defaults().fusedHead());
        assertFalse(FusedHead.OFF.use(load("tiny-llama")));
    }

    @Test
    void allSafeAndAllHarmfulBatches() {
        boolean[] safe = {false, false, false};
        boolean[] bad = {true, true, true};
        for (String fixture : List.of("tiny-llama", "tiny-llama-tied")) {
            assertSameStep(fixture, "emd", Reduction.SEQUENCE, EmbeddingSource.INPUT, safe, 21);
            assertSameStep(fixture, "emd", Reduction.SEQUENCE, EmbeddingSource.INPUT, bad, 22);
            assertSameStep(fixture, "sft", Reduction.SEQUENCE, EmbeddingSource.INPUT, safe, 23);
            assertSameStep(fixture, "sft", Reduction.SEQUENCE, EmbeddingSource.INPUT, bad, 24);  // nothing to learn
        }
    }

    @Test
    void twoAccumulatedStepsAddUp() {
        Batch one = TrainTesting.batch(31, new boolean[] {false, true, false, true});
        Batch two = TrainTesting.batch(32, new boolean[] {true, false, false, true});
        CausalLm fused = load("tiny-llama-tied");
        CausalLm plain = load("tiny-llama-tied");
        Objective on = objective("emd", Reduction.TOKEN, EmbeddingSource.INPUT, FusedHead.ON);
        Objective off = objective("emd", Reduction.TOKEN, EmbeddingSource.INPUT, FusedHead.OFF);
        on.step(fused, one);
        on.step(fused, two);
        off.step(plain, one);
        off.step(plain, two);
        assertAllGradientsClose(fused.stateDict(), plain.stateDict(), "accumulated");
    }

    @Test
    void loraAdaptersBelowAFrozenHead() {
        Batch batch = TrainTesting.batch(41, new boolean[] {false, true, false, true});
        CausalLm fused = load("tiny-llama");
        Lora a = Lora.apply(fused, LoraConfig.SAFETY_TUNED_LLAMAS, 7);
        CausalLm plain = load("tiny-llama");
        Lora b = Lora.apply(plain, LoraConfig.SAFETY_TUNED_LLAMAS, 7);
        assertFalse(fused.lmHeadWeight().requires_grad(), "LoRA freezes the head");
        StepLoss x = objective("emd", Reduction.SEQUENCE, EmbeddingSource.INPUT, FusedHead.ON).step(fused, batch);
        StepLoss y = objective("emd", Reduction.SEQUENCE, EmbeddingSource.INPUT, FusedHead.OFF).step(plain, batch);
        assertEquals(y.total(), x.total(), 1e-5 * (1 + Math.abs(y.total())));
        assertFalse(fused.lmHeadWeight().grad().defined(), "a frozen head gets no gradient");
        List<Tensor> ga = a.trainableParameters();
        List<Tensor> gb = b.trainableParameters();
        assertEquals(gb.size(), ga.size());
        int nonZero = 0;
        for (int i = 0; i < ga.size(); i++) {
            Tensor want = gb.get(i).grad();
            Tensor got = ga.get(i).grad();
            double norm = want.norm().item_double();
            nonZero += norm > 0 ? 1 : 0;
            assertTrue(got.sub(want).norm().item_double() <= 2e-5 * Math.max(norm, 1e-6), "adapter " + i);
        }
        assertTrue(nonZero > 0, "the adapters' B matrices get gradients");
    }
}
