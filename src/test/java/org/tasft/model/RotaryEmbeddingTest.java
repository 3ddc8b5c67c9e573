package org.tasft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.tasft.testing.TensorAssert;

/** The inverse frequencies of each rope type against the formulas evaluated directly in double precision. */
class RotaryEmbeddingTest {
    private static double[] defaults(double theta, int dim) {
        double[] inv = new double[dim / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = 1.0 / Math.pow(theta, 2.0 * i / dim);
        }
        return inv;
    }

    private static void assertRelClose(double[] expected, Tensor actual, double rtol, String what) {
        double[] a = TensorAssert.values(actual);
        assertEquals(expected.length, a.length, what);
        for (int i = 0; i < a.length; i++) {
            assertTrue(Math.abs(a[i] - expected[i]) <= rtol * Math.abs(expected[i]),
                    what + "[" + i + "] = " + a[i] + ", expected " + expected[i]);
        }
    }

    private static ModelConfig.Rope rope(ObjectNode json) {
        return TinyModels.config(json).rope();
    }

    @Test
    void defaultFrequencies() {
        assertRelClose(defaults(10000.0, 16),
                RotaryEmbedding.inverseFrequencies(new ModelConfig.Rope(10000.0, ModelConfig.RopeType.DEFAULT, 1, 0, 0,
                        64), 16, 64), 1e-6, "default");
    }

    /**
     * Llama 3.1: wavelengths below original/high_freq_factor keep their frequency, those above original /
     * low_freq_factor are divided by the factor, and those between are interpolated with
     * smooth = (original / wavelen - low) / (high - low).
     */
    @Test
    void llama3FrequenciesFollowTheFormula() {
        ObjectNode json = TinyModels.llama(4, 4);
        json.remove("rope_parameters");
        json.put("rope_theta", 500000.0);
        json.putObject("rope_scaling").put("rope_type", "llama3").put("factor", 8.0).put("low_freq_factor", 1.0)
                .put("high_freq_factor", 4.0).put("original_max_position_embeddings", 8192);
        ModelConfig.Rope rope = rope(json);
        assertEquals(ModelConfig.RopeType.LLAMA3, rope.type());
        int dim = 128;
        double[] base = defaults(500000.0, dim);
        double[] expected = new double[base.length];
        int[] regions = new int[3];
        for (int i = 0; i < base.length; i++) {
            double wavelen = 2 * Math.PI / base[i];
            if (wavelen < 8192 / 4.0) {
                expected[i] = base[i];
                regions[0]++;
            } else if (wavelen > 8192 / 1.0) {
                expected[i] = base[i] / 8.0;
                regions[2]++;
            } else {
                double smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0);
                expected[i] = (1 - smooth) * base[i] / 8.0 + smooth * base[i];
                regions[1]++;
            }
        }
        assertTrue(regions[0] > 0 && regions[1] > 0 && regions[2] > 0, "every regime is exercised");
        assertRelClose(expected, RotaryEmbedding.inverseFrequencies(rope, dim, 131072), 2e-6, "llama3");
    }

    @Test
    void linearScalingDividesByTheFactor() {
        ObjectNode json = TinyModels.llama(4, 4);
        ((ObjectNode) json.get("rope_parameters")).put("rope_type", "linear").put("factor", 4.0)
                .put("rope_theta", 1000.0);
        double[] expected = defaults(1000.0, 16);
        for (int i = 0; i < expected.length; i++) {
            expected[i] /= 4.0;
        }
        assertRelClose(expected, RotaryEmbedding.inverseFrequencies(rope(json), 16, 64), 1e-6, "linear");
    }

    /**
     * Dynamic NTK: unscaled up to max_position_embeddings; a longer input sets base = theta * ((factor * len / max)
     * - (factor - 1)) ^ (dim / (dim - 2)); a short input afterwards returns to the unscaled frequencies.
     */
    @Test
    void dynamicScalingGrowsAndResetsLikeTransformers() {
        ObjectNode json = TinyModels.llama(4, 4);
        json.put("max_position_embeddings", 8);
        ((ObjectNode) json.get("rope_parameters")).put("rope_type", "dynamic").put("factor", 2.0);
        LlamaModel model = (LlamaModel) TinyModels.model(json, 1);
        int dim = 16;
        try (NoGradGuard g = new NoGradGuard()) {
            assertRelClose(defaults(10000.0, dim), model.rotaryInverseFrequencies(), 1e-6, "initial");
            model.forward(TinyModels.ids(1, 1, 12));
            double base = 10000.0 * Math.pow(2.0 * 12 / 8 - 1.0, dim / (dim - 2.0));
            assertRelClose(defaults(base, dim), model.rotaryInverseFrequencies(), 2e-6, "after 12 tokens");
            model.forward(TinyModels.ids(1, 1, 10)); // shorter than the longest seen, longer than max: kept
            assertRelClose(defaults(base, dim), model.rotaryInverseFrequencies(), 2e-6, "after 10 tokens");
            model.forward(TinyModels.ids(1, 1, 5));
            assertRelClose(defaults(10000.0, dim), model.rotaryInverseFrequencies(), 1e-6, "reset");
        }
    }
}
