package org.tasft.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tasft.model.CausalLm;
import org.tasft.testing.Safetensors;
import org.tasft.testing.TensorAssert;

/** Scores against float64 log_softmax of the logits transformers computed for the same ids. */
class ScorerTest {
    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-llama-tied", "tiny-gpt2"})
    void logprobsAreTransformersLogSoftmaxAtTheNextToken(String fixture) {
        Safetensors expected = Safetensors.load("/fixtures/" + fixture + "/expected.safetensors");
        CausalLm lm = TestModels.load(fixture);
        for (int row = 0; row < 2; row++) {
            double[] idValues = TensorAssert.values(expected.get("input_ids").select(0, row));
            long[] ids = new long[idValues.length];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = (long) idValues[i];
            }
            Tensor logp = expected.get("logits").select(0, row).to(ScalarType.Double).log_softmax(-1);
            Scorer.Score score = new Scorer(lm).score(ids);
            assertArrayEquals(ids, score.ids());
            assertEquals(ids.length - 1, score.logprobs().length);
            double nll = 0;
            for (int t = 1; t < ids.length; t++) {
                double want = TensorAssert.values(logp.select(0, t - 1).select(0, ids[t]))[0];
                assertEquals(want, score.logprobs()[t - 1], 1e-4, fixture + " row " + row + " position " + t);
                nll -= want;
            }
            assertEquals(nll / (ids.length - 1), score.meanNll(), 1e-4);
        }
    }

    @Test
    void theMeanNllOfBothRowsIsTransformersCrossEntropy() {
        Safetensors expected = Safetensors.load("/fixtures/tiny-llama/expected.safetensors");
        CausalLm lm = TestModels.load("tiny-llama");
        double sum = 0;
        for (int row = 0; row < 2; row++) {
            double[] v = TensorAssert.values(expected.get("input_ids").select(0, row));
            long[] ids = new long[v.length];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = (long) v[i];
            }
            sum += new Scorer(lm).score(ids).meanNll();
        }
        assertEquals(TensorAssert.values(expected.get("ce_loss"))[0], sum / 2, 1e-5);
    }

    @Test
    void badSequencesAreRefused() {
        Scorer s = new Scorer(new ToyLm(3));
        assertThrows(IllegalArgumentException.class, () -> s.score(new long[] {4}));
        assertThrows(IllegalArgumentException.class, () -> s.score(new long[] {4, ToyLm.VOCAB}));
        assertThrows(IllegalArgumentException.class, () -> s.score(new long[] {-1, 4}));
        assertThrows(IllegalArgumentException.class, () -> s.score(new long[65]));
    }
}
