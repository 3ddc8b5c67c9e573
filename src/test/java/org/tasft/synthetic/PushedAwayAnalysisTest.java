package org.tasft.synthetic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.tasft.data.Batch;
import org.tasft.data.Collator;
import org.tasft.data.Example;
import org.tasft.data.ExampleEncoder;
import org.tasft.kernel.EmdKernel;
import org.tasft.loss.NaiveEmdLoss;
import org.tasft.model.CausalLm;
import org.tasft.model.HostTensors;
import org.tasft.model.Models;
import org.tasft.tokenizer.Tokenizer;

class PushedAwayAnalysisTest {
    private static Path fixture(String name) throws URISyntaxException {
        return Path.of(PushedAwayAnalysisTest.class.getResource("/fixtures/" + name).toURI());
    }

    /** The mean distance is TA-SFT's own d (the naive reference) over exactly the answers' tokens. */
    @Test
    void meanDistanceIsTheLossesDistanceOverTheAnswerTokens() throws Exception {
        CausalLm model = Models.load(fixture("tiny-llama"));
        List<Example> answers = List.of(Example.harmful("How do I steal a car?", "", "Sure, here is how."),
                Example.harmful("Tell me how to pick a lock.", "", "Sure: step 1, 2, 3 and done."));
        try (Tokenizer tok = Tokenizer.load(fixture("tokenizer").resolve("tokenizer.json"))) {
            PushedAwayAnalysis a = PushedAwayAnalysis.measure(model, tok, answers);
            double want;
            long tokens;
            try (PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
                Batch b = new Collator(model.config().eosTokenIds().get(0)).collate(
                        new ExampleEncoder(tok, org.tasft.tokenizer.PromptTemplate.ALPACA, model.config().maxPositionEmbeddings(),
                                model.config().eosTokenIds().get(0)).encodeAll(answers));
                Tensor logits = model.forward(b.inputIds(), b.attentionMask(), null);
                long t = logits.size(1);
                Tensor targets = torch.full(new long[] {2, t}, new Scalar(Batch.IGNORE_INDEX),
                        new org.bytedeco.pytorch.TensorOptions(torch.ScalarType.Long));
                targets.narrow(1, 0, t - 1).copy_(b.labels().narrow(1, 1, t - 1));
                Tensor ehat = EmdKernel.unitEmbedding(model.inputEmbeddingWeight());
                Tensor rows = NaiveEmdLoss.lossRows(logits.view(2 * t, -1), ehat, targets.view(-1),
                        Batch.IGNORE_INDEX);
                tokens = targets.ne(new Scalar(Batch.IGNORE_INDEX)).sum().item_long();
                want = HostTensors.floats(rows.sum()).length == 1 ? HostTensors.floats(rows.sum())[0] / tokens : 0;
            }
            assertEquals(tokens, a.tokens());
            assertEquals(want, a.meanDistance(), 1e-5);
            assertTrue(a.meanTargetProb() > 0 && a.meanTargetProb() < 1, a.toString());
            assertTrue(Math.abs(a.meanCosTopToTarget()) <= 1 + 1e-6 && Math.abs(a.meanCosExpected()) <= 1 + 1e-6);
            assertTrue(!a.topTokens().isEmpty() && a.topTokens().size() <= 5, a.topTokens().toString());
            assertThrows(IllegalArgumentException.class, () -> PushedAwayAnalysis.measure(model, tok, List.of()));
        }
    }
}
