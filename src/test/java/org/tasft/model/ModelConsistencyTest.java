package org.tasft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.model.TinyModels.ids;
import static org.tasft.model.TinyModels.maxAbsDiff;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Internal consistency of random models built from hand-written configs the fixtures do not cover (other head
 * counts and GQA ratios, an explicit head_dim, llama3 / linear / dynamic rope, Qwen2 biases, Mistral and Qwen2
 * sliding windows shorter than the sequence, GPT-2): the KV cache reproduces the full forward, left padding with a mask
 * reproduces each sequence alone, and the sliding window masks exactly the keys beyond it.
 */
class ModelConsistencyTest {
    static final double TOL = 1e-5;

    static Stream<Arguments> configs() {
        List<Arguments> out = new ArrayList<>();
        ObjectNode gqa = TinyModels.llama(8, 2);
        gqa.put("head_dim", 12); // not hidden / heads (8)
        ObjectNode llama3 = (ObjectNode) gqa.get("rope_parameters");
        llama3.put("rope_type", "llama3");
        llama3.put("factor", 8.0);
        llama3.put("low_freq_factor", 1.0);
        llama3.put("high_freq_factor", 4.0);
        llama3.put("original_max_position_embeddings", 16);
        out.add(Arguments.of("llama GQA 8/2, head_dim 12, llama3 rope", gqa));

        ObjectNode mqa = TinyModels.llama(4, 1);
        mqa.remove("rope_parameters");
        mqa.put("rope_theta", 500.0);
        mqa.putObject("rope_scaling").put("type", "linear").put("factor", 2.0);
        mqa.put("attention_bias", true);
        mqa.put("mlp_bias", true);
        mqa.put("tie_word_embeddings", true);
        out.add(Arguments.of("llama MQA, legacy linear rope, biases, tied", mqa));

        ObjectNode dynamic = TinyModels.llama(4, 4);
        ((ObjectNode) dynamic.get("rope_parameters")).put("rope_type", "dynamic").put("factor", 4.0);
        out.add(Arguments.of("llama MHA, dynamic rope (within max positions)", dynamic));

        ObjectNode qwen = TinyModels.qwen2(4, 2);
        qwen.put("use_sliding_window", true);
        qwen.put("sliding_window", 3);
        qwen.put("max_window_layers", 1);
        out.add(Arguments.of("qwen2 biases, layer 1 sliding window 3", qwen));

        out.add(Arguments.of("mistral sliding window 4", TinyModels.mistral(4, 2, 4)));
        out.add(Arguments.of("gpt2", TinyModels.gpt2()));
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void cacheReproducesFullForward(String name, ObjectNode json) {
        assertCacheReproducesFullForward(TinyModels.model(json, 7), ids(11, 2, 10), name);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void leftPaddingWithMaskMatchesEachSequenceAlone(String name, ObjectNode json) {
        assertLeftPaddingMatchesAlone(TinyModels.model(json, 8), ids(21, 1, 13), ids(22, 1, 9), 2, name);
    }

    /**
     * A prefix of 4 tokens, a chunk of 3 and then one token at a time through the cache give the full forward's
     * logits (input [batch, 10]); after clear() the cache starts over.
     */
    static void assertCacheReproducesFullForward(CausalLm model, Tensor input, String name) {
        try (NoGradGuard g = new NoGradGuard()) {
            Tensor full = model.forward(input);
            KvCache cache = model.newCache();
            List<Tensor> parts = new ArrayList<>();
            parts.add(model.forward(input.narrow(1, 0, 4), null, cache));
            parts.add(model.forward(input.narrow(1, 4, 3), null, cache));
            for (long t = 7; t < 10; t++) {
                parts.add(model.forward(input.narrow(1, t, 1), null, cache));
            }
            assertEquals(10, cache.length());
            Tensor cached = torch.cat(new TensorVector(parts.toArray(new Tensor[0])), 1);
            double diff = maxAbsDiff(cached, full);
            assertTrue(diff <= TOL, name + ": cached vs full logits differ by " + diff);
            assertTrue(torch.abs(full).max().item_double() > 0.1, name + ": logits too small to test anything");

            cache.clear();
            assertEquals(0, cache.length());
            double again = maxAbsDiff(model.forward(input.narrow(1, 0, 10), null, cache), full);
            assertTrue(again <= TOL, name + ": after clear(): " + again);
        }
    }

    /**
     * Sequence a has at least 12 tokens, b at least 8. A batch of a's first 10 and b's first 6 left-padded by 4 with
     * {@code padId}: with the mask, every real token's logits equal those of the sequence alone and padded rows are
     * finite; then generation goes on through the cache with the mask growing by a column of ones, one token at a time, and
     * still matches each sequence alone.
     */
    static void assertLeftPaddingMatchesAlone(CausalLm model, Tensor a, Tensor b, long padId, String name) {
        long pad = 4;
        try (NoGradGuard g = new NoGradGuard()) {
            Tensor aloneA = model.forward(a);
            Tensor aloneB = model.forward(b);
            Tensor prompt = torch.cat(new TensorVector(a.narrow(1, 0, 10),
                    torch.cat(new TensorVector(torch.full(new long[] {1, pad}, new Scalar(padId),
                            new TensorOptions(ScalarType.Long)), b.narrow(1, 0, 6)), 1)), 0);
            Tensor mask = torch.ones(new long[] {2, 10}, new TensorOptions(ScalarType.Long));
            mask.select(0, 1).narrow(0, 0, pad).fill_(new Scalar(0L));

            Tensor batched = model.forward(prompt, mask, null);
            assertFalse(torch.isnan(batched).any().item_bool(), name + ": NaN logits (padded rows)");
            double dA = maxAbsDiff(batched.select(0, 0), aloneA.select(0, 0).narrow(0, 0, 10));
            double dB = maxAbsDiff(batched.select(0, 1).narrow(0, pad, 6), aloneB.select(0, 0).narrow(0, 0, 6));
            assertTrue(dA <= TOL && dB <= TOL, name + ": padded batch vs alone: " + dA + ", " + dB);

            KvCache cache = model.newCache();
            model.forward(prompt, mask, cache);
            long steps = Math.min(a.size(1) - 10, b.size(1) - 6);
            assertTrue(steps >= 2, "sequences too short for generation steps");
            for (int step = 0; step < steps; step++) {
                Tensor next = torch.cat(new TensorVector(a.narrow(1, 10 + step, 1), b.narrow(1, 6 + step, 1)), 0);
                mask = torch.cat(new TensorVector(mask, torch.ones(new long[] {2, 1},
                        new TensorOptions(ScalarType.Long))), 1);
                Tensor logits = model.forward(next, mask, cache);
                double sA = maxAbsDiff(logits.select(0, 0), aloneA.select(0, 0).narrow(0, 10 + step, 1));
                double sB = maxAbsDiff(logits.select(0, 1), aloneB.select(0, 0).narrow(0, 6 + step, 1));
                assertTrue(sA <= TOL && sB <= TOL, name + ": step " + step + ": " + sA + ", " + sB);
            }
        }
    }

    @Test
    void paddedBatchBackwardIsFinite() {
        CausalLm model = TinyModels.model(TinyModels.llama(4, 2), 9);
        Tensor input = ids(5, 2, 8);
        Tensor mask = torch.ones(new long[] {2, 8}, new TensorOptions(ScalarType.Long));
        mask.select(0, 1).narrow(0, 0, 3).fill_(new Scalar(0L));
        Tensor logits = model.forward(input, mask, null);
        logits.select(0, 1).narrow(0, 3, 5).sum().add(logits.select(0, 0).sum()).backward();
        model.stateDict().forEach((n, p) -> assertTrue(torch.isfinite(p.grad()).all().item_bool(), n));
    }

    /**
     * Mistral with window w against the same weights without a window: positions < w see every earlier key either
     * way (equal logits); later positions lose keys (different logits). Changing the first token cannot reach
     * positions beyond the receptive field of layers * (w - 1).
     */
    @Test
    void slidingWindowMasksOnlyBeyondTheWindow() {
        int w = 3;
        CausalLm windowed = TinyModels.model(TinyModels.mistral(4, 2, w), 12);
        CausalLm full = Models.fromTensors(TinyModels.config(TinyModels.mistral(4, 2, null)),
                windowed.stateDict()::get, windowed.stateDict().keySet());
        assertEquals(List.of(ModelConfig.LayerType.FULL_ATTENTION, ModelConfig.LayerType.FULL_ATTENTION),
                full.config().layerTypes());
        Tensor input = ids(13, 1, 12);
        try (NoGradGuard g = new NoGradGuard()) {
            Tensor lw = windowed.forward(input).select(0, 0);
            Tensor lf = full.forward(input).select(0, 0);
            assertTrue(maxAbsDiff(lw.narrow(0, 0, w), lf.narrow(0, 0, w)) <= 1e-6, "inside the window");
            for (int t = w; t < 12; t++) {
                assertTrue(maxAbsDiff(lw.select(0, t), lf.select(0, t)) > 1e-4, "position " + t + " unmasked");
            }
            Tensor changed = input.clone();
            changed.select(1, 0).fill_(new Scalar((input.select(1, 0).item_long() + 1) % TinyModels.VOCAB));
            Tensor lc = windowed.forward(changed).select(0, 0);
            int field = 2 * (w - 1); // 2 layers
            assertTrue(maxAbsDiff(lc.narrow(0, field + 1, 12 - field - 1), lw.narrow(0, field + 1, 12 - field - 1))
                    == 0.0, "token 0 reached beyond the receptive field");
            assertTrue(maxAbsDiff(lc.narrow(0, 0, field + 1), lw.narrow(0, 0, field + 1)) > 1e-4);
        }
    }

    /** Qwen2 slides only from max_window_layers on: with it at the layer count, the window changes nothing. */
    @Test
    void qwen2SlidesOnlyFromMaxWindowLayers() {
        ObjectNode sliding = TinyModels.qwen2(4, 2);
        sliding.put("use_sliding_window", true);
        sliding.put("sliding_window", 2);
        sliding.put("max_window_layers", 2);
        CausalLm model = TinyModels.model(sliding, 3);
        ObjectNode plain = TinyModels.qwen2(4, 2);
        CausalLm reference = Models.fromTensors(TinyModels.config(plain), model.stateDict()::get,
                model.stateDict().keySet());
        Tensor input = ids(4, 1, 9);
        try (NoGradGuard g = new NoGradGuard()) {
            assertEquals(0.0, maxAbsDiff(model.forward(input), reference.forward(input)));
        }
    }
}
