package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.train.TrainTesting.IGNORE;

import java.util.Map;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;
import org.tasft.data.Batch;
import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.loss.NaiveEmdLoss;
import org.tasft.model.CausalLm;
import org.tasft.testing.Safetensors;
import org.tasft.train.TaSft.EmbeddingSource;

/** TA-SFT's step against the same loss written naively in LibTorch autograd (NaiveEmdLoss, cross_entropy). */
class TaSftTest {
    private static final double LAMBDA = 0.25;
    private static final boolean[] INTERLEAVED = {false, true, false, true};
    private static final boolean[] GROUPED = {false, false, true, true};

    /** The naive total loss (a tensor in the model's graph) with the same normalizer. */
    static Tensor naiveLoss(CausalLm model, Batch batch, Reduction reduction, EmbeddingSource source,
            double lambda) {
        TrainTesting.Naive n = TrainTesting.Naive.of(model, batch);
        Tensor ehat = TrainTesting.unit(source == EmbeddingSource.INPUT ? model.inputEmbeddingWeight()
                : model.lmHeadWeight());
        double normalizer = reduction == Reduction.SEQUENCE ? batch.harmfulCount() : n.tokens(true);
        Tensor emd = NaiveEmdLoss.lossTerm(n.rows(true), ehat, n.targets(true), IGNORE, lambda, normalizer);
        return n.sft().add(emd);
    }

    @ParameterizedTest(name = "{0} {1} interleaved={2}")
    @CsvSource({"SEQUENCE, INPUT, true", "SEQUENCE, LM_HEAD, true", "TOKEN, INPUT, true", "TOKEN, LM_HEAD, true",
            "SEQUENCE, INPUT, false", "TOKEN, LM_HEAD, false"})
    void gradientsAndValueMatchNaiveAutograd(Reduction reduction, EmbeddingSource source, boolean interleaved) {
        Batch batch = TrainTesting.batch(7, interleaved ? INTERLEAVED : GROUPED);

        CausalLm model = TrainTesting.model();
        StepLoss loss = new TaSft(LAMBDA, reduction, source).step(model, batch);

        CausalLm ref = TrainTesting.model();
        Tensor naive = naiveLoss(ref, batch, reduction, source, LAMBDA);
        naive.backward();

        assertEquals(naive.item_double(), loss.total(), 1e-5 * Math.abs(naive.item_double()), "total");
        assertEquals(loss.sft() + loss.term(), loss.total(), 1e-12);
        assertTrue(loss.term() < 0, "the EMD term is -lambda * (something >= 0)");
        TrainTesting.assertGradsClose(TrainTesting.grads(model), TrainTesting.grads(ref), 1e-4, "TaSft");
        assertEquals(2, loss.safeSequences());
        assertEquals(2, loss.harmfulSequences());
        TrainTesting.Naive n = TrainTesting.Naive.of(ref, batch);
        assertEquals(n.tokens(false), loss.safeTokens());
        assertEquals(n.tokens(true), loss.harmfulTokens());
    }

    @ParameterizedTest(name = "interleaved={0}")
    @CsvSource({"true", "false"})
    void inPlaceGradientGivesTheSameStep(boolean interleaved) {
        Batch batch = TrainTesting.batch(9, interleaved ? INTERLEAVED : GROUPED);
        CausalLm a = TrainTesting.model();
        // the logits path (the fused head has no logits to write over)
        StepLoss copy = new TaSft(LAMBDA, Reduction.TOKEN, EmbeddingSource.INPUT, false, FusedHead.OFF).step(a, batch);
        CausalLm b = TrainTesting.model();
        Objective inPlace = Method.EMD.objective(Objectives.Options.defaults().lambda(LAMBDA)
                .reduction(Reduction.TOKEN).inPlaceGradient(true).fusedHead(FusedHead.OFF));
        assertTrue(((TaSft) inPlace).inPlaceGradient());
        StepLoss in = inPlace.step(b, batch);
        assertEquals(copy.total(), in.total(), 1e-12);
        TrainTesting.assertGradsClose(TrainTesting.grads(b), TrainTesting.grads(a), 1e-6, "in place");
    }

    /**
     * The emd-cap variant: tokens at or past the cap are not pushed (value min(d, cap), no gradient), the others as in
     * TA-SFT; checked against naive autograd through clamp_max with a cap between the batch's distances.
     */
    @ParameterizedTest(name = "interleaved={0}")
    @CsvSource({"true", "false"})
    void cappedVariantStopsPushingTokensPastTheCap(boolean interleaved) {
        Batch batch = TrainTesting.batch(7, interleaved ? INTERLEAVED : GROUPED);
        CausalLm ref = TrainTesting.model();
        TrainTesting.Naive n = TrainTesting.Naive.of(ref, batch);
        Tensor ehat = TrainTesting.unit(ref.inputEmbeddingWeight());
        Tensor d = NaiveEmdLoss.lossRows(n.rows(true), ehat, n.targets(true), IGNORE);
        Tensor active = d.masked_select(n.targets(true).ne(new org.bytedeco.pytorch.Scalar(IGNORE)));
        // halfway between the two middle distances: about half the tokens are past it, none near it
        float[] sorted = org.tasft.model.HostTensors.floats(active.sort(0, false).get0());
        double cap = (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2.0;
        long past = active.ge(new org.bytedeco.pytorch.Scalar(cap)).sum().item_long();
        assertTrue(past > 0 && past < active.numel(), "the cap splits the tokens");
        Tensor naive = n.sft().add(d.clamp_max(new org.bytedeco.pytorch.Scalar(cap)).sum()
                .mul(new org.bytedeco.pytorch.Scalar(-LAMBDA / batch.harmfulCount())));
        naive.backward();

        CausalLm model = TrainTesting.model();
        TaSft capped = new TaSft(LAMBDA, Reduction.SEQUENCE, EmbeddingSource.INPUT, false, FusedHead.AUTO, cap);
        StepLoss loss = capped.step(model, batch);
        assertEquals("emd-cap", capped.name());
        assertEquals(naive.item_double(), loss.total(), 1e-5 * Math.abs(naive.item_double()));
        TrainTesting.assertGradsClose(TrainTesting.grads(model), TrainTesting.grads(ref), 1e-4, "capped");
        // and it is a different step from TA-SFT's
        CausalLm plain = TrainTesting.model();
        StepLoss uncapped = new TaSft(LAMBDA, Reduction.SEQUENCE, EmbeddingSource.INPUT).step(plain, batch);
        assertTrue(uncapped.term() < loss.term(), uncapped.term() + " vs " + loss.term());
        assertEquals(TaSft.VARIANT_DISTANCE_CAP, ((TaSft) Method.EMD_CAP.objective(Objectives.Options.defaults()))
                .distanceCap());
        assertThrows(IllegalArgumentException.class,
                () -> new TaSft(LAMBDA, Reduction.SEQUENCE, EmbeddingSource.INPUT, false, FusedHead.OFF, 0));
        // the fused head has no cap: asking for both is an error, not a silently uncapped step
        assertThrows(IllegalArgumentException.class,
                () -> new TaSft(LAMBDA, Reduction.SEQUENCE, EmbeddingSource.INPUT, false, FusedHead.ON, 1.0));
    }

    @Test
    void onlyHarmfulOrOnlySafeSequences() {
        for (boolean[] harmful : new boolean[][] {{true, true}, {false, false}}) {
            Batch batch = TrainTesting.batch(8, harmful);
            CausalLm model = TrainTesting.model();
            StepLoss loss = new TaSft(LAMBDA, Reduction.SEQUENCE, EmbeddingSource.INPUT).step(model, batch);
            CausalLm ref = TrainTesting.model();
            TrainTesting.Naive n = TrainTesting.Naive.of(ref, batch);
            Tensor naive = harmful[0]
                    ? NaiveEmdLoss.lossTerm(n.rows(true), TrainTesting.unit(ref.inputEmbeddingWeight()),
                            n.targets(true), IGNORE, LAMBDA, 2)
                    : n.sft();
            naive.backward();
            assertEquals(naive.item_double(), loss.total(), 1e-5 * Math.abs(naive.item_double()));
            assertEquals(0.0, harmful[0] ? loss.sft() : loss.term());
            TrainTesting.assertGradsClose(TrainTesting.grads(model), TrainTesting.grads(ref), 1e-4,
                    "harmful=" + harmful[0]);
        }
    }

    /**
     * The golden step on tiny-llama (fixtures/emd/tasft_step_tiny_llama): row 0 safe, row 1 harmful, lambda 0.25.
     * Only its CE is compared: the fixture's EMD, loss and gradients are NaN, because its generator normalised the
     * embedding with e / ||e|| and tiny-llama's padding row (pad_token_id 2) is all zeros (0/0). The EMD part is
     * checked against the naive autograd version instead (e / max(||e||, 1e-12): the zero row stays zero).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"SEQUENCE, sequence", "TOKEN, token"})
    void goldenStepCrossEntropyAndNaiveEmd(Reduction reduction, String key) {
        Safetensors golden = Safetensors.load("/fixtures/emd/tasft_step_tiny_llama.safetensors");
        Tensor ids = golden.get("input_ids");
        Tensor mask = torch.ones(new long[] {ids.size(0), ids.size(1)}, new TensorOptions(ScalarType.Long));
        Batch batch = new Batch(ids, golden.get("labels"), mask, new boolean[] {false, true});
        double lambda = golden.get("lambda").item_double();
        assertEquals(0.25, lambda, 1e-7);

        CausalLm model = TrainTesting.model();
        StepLoss loss = new TaSft(lambda, reduction, EmbeddingSource.INPUT).step(model, batch);
        double ce = golden.get(key + ".ce").item_double();
        assertEquals(6.3561435, ce, 1e-6);
        assertEquals(ce, loss.sft(), 1e-5 * ce, "L_SFT");
        assertTrue(Double.isFinite(loss.term()));

        CausalLm ref = TrainTesting.model();
        Tensor naive = naiveLoss(ref, batch, reduction, EmbeddingSource.INPUT, lambda);
        naive.backward();
        assertEquals(naive.item_double(), loss.total(), 1e-5 * Math.abs(naive.item_double()));
        TrainTesting.assertGradsClose(TrainTesting.grads(model), TrainTesting.grads(ref), 1e-4, "golden batch");
        // The zero padding row of the input embedding stays zero in ehat.
        Tensor ehat = new TaSft(lambda, reduction, EmbeddingSource.INPUT).unitEmbedding(ref);
        assertEquals(0.0, ehat.select(0, TrainTesting.PAD).abs().max().item_double());
        assertEquals(0.0, ref.inputEmbeddingWeight().select(0, TrainTesting.PAD).abs().max().item_double());
    }

    @Test
    void shiftedTargetsPutLabelsOfTheNextPosition() {
        Tensor labels = torch.arange(new Scalar(6L)).view(2, 3).to(ScalarType.Long);
        Tensor t = StepForward.shiftedTargets(labels);
        assertEquals("[1, 2, -100, 4, 5, -100]", java.util.Arrays.toString(toLongs(t)));
    }

    private static long[] toLongs(Tensor t) {
        Tensor c = t.contiguous();
        long[] out = new long[(int) c.numel()];
        c.data_ptr_long().get(out);
        return out;
    }

}
