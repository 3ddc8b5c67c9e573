package org.tasft.kernel;

import static org.tasft.testing.TensorAssert.assertClose;
import static org.tasft.testing.TensorAssert.assertGradientClose;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tasft.kernel.EmdKernel.GradientMode;
import org.tasft.kernel.EmdKernel.Options;
import org.tasft.testing.Safetensors;

/**
 * The kernel (float32) against float64 PyTorch autograd (fixtures/emd/cases.*): odd sizes, ignored rows, -inf logits,
 * logit scale 1e3.
 */
class EmdKernelGoldenTest {
    private static final long IGNORE = -100;

    private static Safetensors cases;

    @BeforeAll
    static void load() {
        cases = Safetensors.load("/fixtures/emd/cases.safetensors");
    }

    @ParameterizedTest(name = "case{0}")
    @ValueSource(ints = {0, 1, 2, 3, 4})
    void matchesFloat64Autograd(int k) {
        String p = "case" + k + ".";
        Tensor logits = cases.get(p + "logits");
        Tensor embedding = cases.get(p + "embedding");
        Tensor targets = cases.get(p + "targets");
        Tensor unit = EmdKernel.unitEmbedding(embedding);
        long dim = embedding.size(1);

        EmdKernel.Result r = EmdKernel.compute(logits, unit, targets,
                Options.defaults().ignoreIndex(IGNORE).gradient(GradientMode.NEW_TENSOR).expectedEmbedding(true));

        Tensor goldenLoss = cases.get(p + "loss_rows");
        assertClose(r.lossRows(), goldenLoss, 1e-5, p + "loss_rows");
        // The kernel leaves ignored rows' expected embedding at 0; the fixture has the value for every row.
        Tensor ignored = targets.eq(new Scalar(IGNORE)).unsqueeze(1);
        assertClose(r.expectedEmbedding(), cases.get(p + "expected_embedding").masked_fill(ignored, new Scalar(0.0)),
                1e-5, p + "expected_embedding");
        Tensor probs = logits.to(ScalarType.Double).softmax(1);
        assertGradientClose(r.gradLogits(), cases.get(p + "grad_logits"), probs, goldenLoss, dim, 1.0, 1e-5, 1e-6,
                1e-12, p + "grad_logits");
    }
}
