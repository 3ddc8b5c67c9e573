package org.tasft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tasft.testing.Safetensors;

/**
 * The golden fixtures made by transformers 5.17 (make_hf_fixtures.py): tiny random Llama (untied and tied head) and
 * GPT-2 checkpoints, the logits for two random sequences, the mean next-token cross-entropy and the gradients of
 * the embedding, the head and every layer-0 parameter.
 */
class HfFixtureTest {
    static CausalLm load(String fixture) {
        ModelConfig config = ModelConfig.parse(resourceText("/fixtures/" + fixture + "/config.json"),
                "fixtures/" + fixture + "/config.json");
        Safetensors weights = Safetensors.load("/fixtures/" + fixture + "/model.safetensors");
        return Models.fromTensors(config, weights::get, weights.names());
    }

    static String resourceText(String resource) {
        try (InputStream in = HfFixtureTest.class.getResourceAsStream(resource)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** transformers' loss: cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1)), mean. */
    static Tensor nextTokenLoss(Tensor logits, Tensor ids) {
        long b = logits.size(0);
        long s = logits.size(1);
        long v = logits.size(2);
        Tensor predictions = logits.narrow(1, 0, s - 1).reshape(-1, v);
        Tensor targets = ids.narrow(1, 1, s - 1).reshape(-1);
        assertEquals(b * (s - 1), targets.size(0));
        return torch.cross_entropy(predictions, targets);
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-llama-tied", "tiny-gpt2"})
    void logitsLossAndGradientsMatchTransformers(String fixture) {
        CausalLm model = load(fixture);
        Safetensors expected = Safetensors.load("/fixtures/" + fixture + "/expected.safetensors");
        Tensor ids = expected.get("input_ids");

        Tensor logits = model.forward(ids);
        double maxDiff = torch.abs(logits.sub(expected.get("logits"))).max().item_double();
        System.out.printf("%s: max |logits - transformers| = %.3g%n", fixture, maxDiff);
        assertTrue(maxDiff <= 1e-4, fixture + ": logits differ by " + maxDiff);

        Tensor loss = nextTokenLoss(logits, ids);
        double ref = expected.get("ce_loss").item_double();
        double relLoss = Math.abs(loss.item_double() - ref) / Math.abs(ref);
        System.out.printf("%s: ce %.8f vs %.8f (rel %.3g)%n", fixture, loss.item_double(), ref, relLoss);
        assertTrue(relLoss <= 1e-5, fixture + ": loss " + loss.item_double() + " vs " + ref);

        loss.backward();
        LinkedHashMap<String, Tensor> params = model.stateDict();
        int checked = 0;
        double worst = 0;
        for (String key : expected.names()) {
            if (!key.startsWith("grad.")) {
                continue;
            }
            String name = key.substring("grad.".length());
            Tensor param = params.get(name);
            assertTrue(param != null, fixture + ": no parameter " + name);
            Tensor g = param.grad();
            Tensor gRef = expected.get(key);
            double err = norm(g.sub(gRef));
            double scale = norm(gRef);
            worst = Math.max(worst, err / Math.max(scale, 1e-30));
            assertTrue(err <= 1e-4 * scale + 1e-9, fixture + ": gradient of " + name + ": ||g - ref|| = " + err
                    + ", ||ref|| = " + scale);
            checked++;
        }
        System.out.printf("%s: %d gradients, worst relative error %.3g%n", fixture, checked, worst);
        assertTrue(checked >= 10, fixture + ": only " + checked + " gradients in the fixture");
    }

    /** The fixtures' models through the cache and with left padding, on their own input ids (pad id 2). */
    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-llama-tied", "tiny-gpt2"})
    void cacheAndLeftPadding(String fixture) {
        CausalLm model = load(fixture);
        Tensor ids = Safetensors.load("/fixtures/" + fixture + "/expected.safetensors").get("input_ids");
        ModelConsistencyTest.assertCacheReproducesFullForward(model, ids.narrow(1, 0, 10), fixture);
        ModelConsistencyTest.assertLeftPaddingMatchesAlone(model, ids.narrow(0, 0, 1), ids.narrow(0, 1, 1)
                .narrow(1, 0, 9), 2, fixture);
    }

    static double norm(Tensor t) {
        return Math.sqrt(t.to(torch.ScalarType.Double).pow(new Scalar(2)).sum().item_double());
    }
}
