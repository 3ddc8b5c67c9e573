package org.tasft.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.testing.TensorAssert.assertClose;
import static org.tasft.testing.TensorAssert.assertGradientClose;
import static org.tasft.testing.TensorAssert.assertSameValues;
import static org.tasft.testing.TensorAssert.values;

import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tasft.kernel.EmdKernel.GradientMode;
import org.tasft.kernel.EmdKernel.Options;
import org.tasft.loss.NaiveEmdLoss;
import org.tasft.testing.RandomCase;

/** The kernel against LibTorch autograd of {@link NaiveEmdLoss} in float64 on the same (rounded) inputs. */
class EmdKernelTest {
    private static final long IGNORE = RandomCase.IGNORE;

    /** Loss rows, gradient (times gradScale), expected embeddings and softmax, all float64, from autograd. */
    record Reference(Tensor lossRows, Tensor grad, Tensor expected, Tensor probs) {
        static Reference of(Tensor logits, Tensor unit, Tensor targets, double gradScale) {
            Tensor z = logits.detach().to(ScalarType.Double).requires_grad_(true);
            Tensor d = NaiveEmdLoss.lossRows(z, unit, targets, IGNORE, ScalarType.Double);
            d.sum().mul(new Scalar(gradScale)).backward();
            Tensor ignored = targets.eq(new Scalar(IGNORE)).unsqueeze(1);
            Tensor expected = NaiveEmdLoss.expectedEmbedding(z.detach(), unit, ScalarType.Double)
                    .masked_fill(ignored, new Scalar(0.0));
            return new Reference(d.detach(), z.grad(), expected, z.detach().softmax(1));
        }
    }

    private static Options withGradient(float scale) {
        return Options.defaults().ignoreIndex(IGNORE).gradScale(scale).gradient(GradientMode.NEW_TENSOR)
                .expectedEmbedding(true);
    }

    @ParameterizedTest(name = "rows={0} vocab={1} dim={2} scale={3} ignored={4}")
    @CsvSource({
        "1, 1, 1, 1.0, 0.0",
        "1, 2, 3, 1.0, 0.0",
        "3, 7, 5, 2.0, 0.3",
        "17, 129, 33, 4.0, 0.2",
        "64, 1000, 64, 3.0, 0.1",
        "5, 4099, 3, 10.0, 0.0",
        "9, 333, 130, 0.5, 0.5",
    })
    void randomShapesMatchAutograd(long rows, long vocab, long dim, double scale, double ignored) {
        RandomCase c = RandomCase.of(rows * 1000 + vocab, rows, vocab, dim, scale, ignored);
        float gradScale = -0.37f;
        EmdKernel.Result r = EmdKernel.compute(c.logits(), c.unitEmbedding(), c.targets(), withGradient(gradScale));
        Reference ref = Reference.of(c.logits(), c.unitEmbedding(), c.targets(), gradScale);

        assertEquals(ScalarType.Float, r.lossRows().scalar_type().intern());
        assertEquals(ScalarType.Float, r.gradLogits().scalar_type().intern());
        assertTrue(r.gradLogits().is_contiguous());
        assertClose(r.lossRows(), ref.lossRows(), 1e-5, "loss_rows");
        assertClose(r.expectedEmbedding(), ref.expected(), 1e-5, "expected_embedding");
        assertGradientClose(r.gradLogits(), ref.grad(), ref.probs(), ref.lossRows(), dim, Math.abs(gradScale), 2e-5,
                1e-6, 1e-12, "grad_logits");
    }

    @ParameterizedTest(name = "logits={0} embedding={1}")
    @CsvSource({
        "BFloat16, BFloat16",
        "Half, Half",
        "BFloat16, Float",
        "Float, BFloat16",
        "Half, Float",
    })
    void lowPrecisionInputsMatchAutogradOnTheSameRoundedValues(String logitsType, String embeddingType) {
        RandomCase c = RandomCase.of(7, 23, 517, 48, 3.0, 0.2);
        Tensor logits = c.logits().to(ScalarType.valueOf(logitsType));
        Tensor unit = c.unitEmbedding().to(ScalarType.valueOf(embeddingType));
        float gradScale = 0.75f;
        EmdKernel.Result r = EmdKernel.compute(logits, unit, c.targets(), withGradient(gradScale));
        Reference ref = Reference.of(logits, unit, c.targets(), gradScale);

        assertEquals(ScalarType.valueOf(logitsType), r.gradLogits().scalar_type().intern(), "gradient dtype");
        // Losses and expected embeddings are float32 outputs, accumulated in float32 or better.
        assertClose(r.lossRows(), ref.lossRows(), 2e-5, "loss_rows");
        assertClose(r.expectedEmbedding(), ref.expected(), 2e-5, "expected_embedding");
        // The gradient is rounded to the logits' dtype when stored.
        boolean bf16 = logitsType.equals("BFloat16");
        assertGradientClose(r.gradLogits(), ref.grad(), ref.probs(), ref.lossRows(), c.dim(), gradScale,
                bf16 ? 1.6e-2 : 2e-3, 1e-6, bf16 ? 1e-12 : 6e-8, "grad_logits");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"Float", "BFloat16", "Half"})
    void paddedRowStrideIsHonouredAndPaddingNeverTouched(String type) {
        RandomCase c = RandomCase.of(11, 13, 301, 24, 3.0, 0.2);
        ScalarType dtype = ScalarType.valueOf(type);
        long rows = c.rows();
        long vocab = c.vocab();
        // A wider tensor whose extra columns hold NaN: a read of them would poison the loss, a write would show.
        Tensor wide = torch.full(new long[] {rows, vocab + 7}, new Scalar(Double.NaN), new TensorOptions(dtype));
        Tensor logits = wide.narrow(1, 0, vocab);
        logits.copy_(c.logits().to(dtype));
        assertFalse(logits.is_contiguous());
        Tensor compact = logits.contiguous();

        EmdKernel.Result strided = EmdKernel.compute(logits, c.unitEmbedding(), c.targets(), withGradient(-2f));
        EmdKernel.Result dense = EmdKernel.compute(compact, c.unitEmbedding(), c.targets(), withGradient(-2f));
        assertSameValues(strided.lossRows(), dense.lossRows(), "loss_rows");
        assertSameValues(strided.expectedEmbedding(), dense.expectedEmbedding(), "expected_embedding");
        assertSameValues(strided.gradLogits(), dense.gradLogits(), "grad_logits");
        assertTrue(strided.gradLogits().is_contiguous(), "a new gradient is contiguous");

        Tensor before = wide.clone();
        EmdKernel.Result inPlace = EmdKernel.compute(logits, c.unitEmbedding(), c.targets(),
                withGradient(-2f).gradient(GradientMode.IN_PLACE));
        assertSame(logits, inPlace.gradLogits());
        assertSameValues(inPlace.lossRows(), dense.lossRows(), "in-place loss_rows");
        assertSameValues(logits, dense.gradLogits(), "in-place gradient");
        Tensor padding = wide.narrow(1, vocab, 7);
        assertSameValues(padding, before.narrow(1, vocab, 7), "padding columns");
        for (double v : values(padding)) {
            assertTrue(Double.isNaN(v), "padding still NaN");
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"Float", "BFloat16", "Half"})
    void inPlaceGradientEqualsNewTensorGradient(String type) {
        RandomCase c = RandomCase.of(5, 31, 1024, 40, 5.0, 0.25);
        Tensor logits = c.logits().to(ScalarType.valueOf(type));
        EmdKernel.Result fresh = EmdKernel.compute(logits, c.unitEmbedding(), c.targets(), withGradient(0.5f));
        Tensor overwritten = logits.clone();
        long versionBefore = overwritten._version();
        EmdKernel.Result inPlace = EmdKernel.compute(overwritten, c.unitEmbedding(), c.targets(),
                withGradient(0.5f).gradient(GradientMode.IN_PLACE));

        assertSame(overwritten, inPlace.gradLogits());
        assertSameValues(overwritten, fresh.gradLogits(), "gradient");
        assertSameValues(inPlace.lossRows(), fresh.lossRows(), "loss_rows");
        assertSameValues(inPlace.expectedEmbedding(), fresh.expectedEmbedding(), "expected_embedding");
        assertTrue(overwritten._version() > versionBefore, "autograd version counter bumped");
    }

    @Test
    void forwardOnlyReturnsLossesWithoutGradient() {
        RandomCase c = RandomCase.of(3, 8, 50, 6, 2.0, 0.25);
        Tensor before = c.logits().clone();
        EmdKernel.Result r = EmdKernel.compute(c.logits(), c.unitEmbedding(), c.targets(),
                Options.defaults().ignoreIndex(IGNORE));
        assertNull(r.gradLogits());
        assertNull(r.expectedEmbedding());
        assertSameValues(c.logits(), before, "logits unchanged");
        Tensor rows = EmdKernel.lossRows(c.logits(), c.unitEmbedding(), c.targets(), IGNORE);
        assertSameValues(rows, r.lossRows(), "lossRows()");
        assertClose(rows, Reference.of(c.logits(), c.unitEmbedding(), c.targets(), 1).lossRows(), 1e-5, "loss_rows");
    }

    @Test
    void ignoredRowsGetZeroLossGradientAndExpectedEmbedding() {
        RandomCase c = RandomCase.of(4, 6, 40, 8, 2.0, 0.0);
        Tensor targets = c.targets().clone();
        targets.narrow(0, 2, 2).fill_(new Scalar(IGNORE));
        EmdKernel.Result r = EmdKernel.compute(c.logits(), c.unitEmbedding(), targets, withGradient(1f));
        for (long row = 2; row < 4; row++) {
            assertEquals(0.0, values(r.lossRows().select(0, row))[0]);
            for (double v : values(r.gradLogits().select(0, row))) {
                assertEquals(0.0, v);
            }
            for (double v : values(r.expectedEmbedding().select(0, row))) {
                assertEquals(0.0, v);
            }
        }
        assertTrue(values(r.lossRows().select(0, 0))[0] > 0);

        Tensor allIgnored = torch.full(new long[] {6}, new Scalar(IGNORE), new TensorOptions(ScalarType.Long));
        EmdKernel.Result none = EmdKernel.compute(c.logits(), c.unitEmbedding(), allIgnored, withGradient(1f));
        assertEquals(0.0, none.lossRows().abs().sum().item_double());
        assertEquals(0.0, none.gradLogits().abs().sum().item_double());
    }

    @Test
    void otherIgnoreIndexAndMaskedLogits() {
        RandomCase c = RandomCase.of(8, 5, 64, 16, 2.0, 0.0);
        Tensor targets = c.targets().clone();
        targets.narrow(0, 0, 1).fill_(new Scalar(-1L));
        Tensor logits = c.logits().clone();
        logits.narrow(1, 10, 20).fill_(new Scalar(Double.NEGATIVE_INFINITY)); // masked tokens: probability 0
        Options options = Options.defaults().ignoreIndex(-1).gradScale(1f).gradient(GradientMode.NEW_TENSOR);
        EmdKernel.Result r = EmdKernel.compute(logits, c.unitEmbedding(), targets, options);

        Tensor z = logits.detach().to(ScalarType.Double).requires_grad_(true);
        Tensor d = NaiveEmdLoss.lossRows(z, c.unitEmbedding(), targets, -1, ScalarType.Double);
        d.sum().backward();
        assertClose(r.lossRows(), d.detach(), 1e-5, "loss_rows");
        assertEquals(0.0, values(r.lossRows().select(0, 0))[0]);
        assertGradientClose(r.gradLogits(), z.grad(), z.detach().softmax(1), d.detach(), c.dim(), 1, 2e-5, 1e-6, 1e-12,
                "grad_logits");
        assertEquals(0.0, r.gradLogits().narrow(1, 10, 20).abs().sum().item_double(), "masked columns");
    }

    @Test
    void emptyBatch() {
        RandomCase c = RandomCase.of(9, 4, 10, 3, 1.0, 0.0);
        Tensor logits = c.logits().narrow(0, 0, 0);
        Tensor targets = c.targets().narrow(0, 0, 0);
        EmdKernel.Result r = EmdKernel.compute(logits, c.unitEmbedding(), targets, withGradient(1f));
        assertEquals(0, r.lossRows().numel());
        assertEquals(0, r.gradLogits().numel());
        assertEquals(0, r.expectedEmbedding().numel());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"Float", "BFloat16", "Half", "Double"})
    void unitEmbeddingScalesRowsToUnitNorm(String type) {
        ScalarType dtype = ScalarType.valueOf(type);
        torch.manual_seed(21);
        Tensor embedding = torch.randn(new long[] {37, 19}, new TensorOptions(ScalarType.Float)).mul(new Scalar(3.0))
                .to(dtype);
        embedding.narrow(0, 5, 1).zero_();
        Tensor unit = EmdKernel.unitEmbedding(embedding);

        assertEquals(dtype, unit.scalar_type().intern());
        assertTrue(unit.is_contiguous());
        assertFalse(unit.requires_grad());
        Tensor wide = embedding.to(ScalarType.Double);
        Tensor expected = wide.div(wide.mul(wide).sum(new long[] {1}, true, new ScalarTypeOptional())
                .sqrt().clamp_min(new Scalar(1e-12)));
        double tol = switch (type) {
            case "BFloat16" -> 8e-3;
            case "Half" -> 1e-3;
            default -> 1e-6;
        };
        assertClose(unit, expected, tol, "unit embedding");
        assertEquals(0.0, unit.narrow(0, 5, 1).abs().sum().item_double(), "a zero row stays zero");
        assertSameValues(embedding.narrow(0, 5, 1), torch.zeros(new long[] {1, 19}, new TensorOptions(dtype)),
                "input untouched");
    }

    @Test
    void unitEmbeddingOfATransposedView() {
        torch.manual_seed(22);
        Tensor embedding = torch.randn(new long[] {6, 40}, new TensorOptions(ScalarType.Float)).t();
        Tensor unit = EmdKernel.unitEmbedding(embedding);
        assertClose(unit, EmdKernel.unitEmbedding(embedding.contiguous()), 1e-7, "transposed input");
    }

    @Test
    void threadCountPassthroughGivesTheSameResults() {
        RandomCase c = RandomCase.of(12, 40, 700, 32, 3.0, 0.1);
        int before = EmdKernel.numThreads();
        assertTrue(before >= 1);
        try {
            EmdKernel.setNumThreads(1);
            assertEquals(1, EmdKernel.numThreads());
            EmdKernel.Result one = EmdKernel.compute(c.logits(), c.unitEmbedding(), c.targets(), withGradient(1f));
            EmdKernel.setNumThreads(2);
            assertEquals(2, EmdKernel.numThreads());
            EmdKernel.Result two = EmdKernel.compute(c.logits(), c.unitEmbedding(), c.targets(), withGradient(1f));
            assertClose(two.lossRows(), one.lossRows(), 1e-6, "loss_rows");
            assertClose(two.gradLogits(), one.gradLogits(), 1e-6, "grad_logits");
        } finally {
            EmdKernel.setNumThreads(0);
        }
        assertEquals(before, EmdKernel.numThreads(), "0 restores the default");
    }

    /**
     * Options.cpuIsa runs the named instruction set: each one this CPU has against autograd, the default's bit for
     * bit what {@link EmdKernel#defaultCpuIsa()} names; one it lacks fails the call, naming it.
     */
    @Test
    void everyInstructionSetMatchesAutograd() {
        RandomCase c = RandomCase.of(14, 19, 777, 40, 3.0, 0.2);
        Reference ref = Reference.of(c.logits(), c.unitEmbedding(), c.targets(), 1.0);
        EmdKernel.Result plain = EmdKernel.compute(c.logits(), c.unitEmbedding(), c.targets(), withGradient(1f));
        int ran = 0;
        for (EmdKernel.CpuIsa isa : EmdKernel.CpuIsa.values()) {
            Options options = withGradient(1f).cpuIsa(isa);
            if (!isa.available()) {
                UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                        () -> EmdKernel.compute(c.logits(), c.unitEmbedding(), c.targets(), options));
                assertTrue(e.getMessage().contains("cpu_isa " + isa.id() + " is not available"), e.getMessage());
                continue;
            }
            ran++;
            EmdKernel.Result r = EmdKernel.compute(c.logits(), c.unitEmbedding(), c.targets(), options);
            assertClose(r.lossRows(), ref.lossRows(), 1e-5, isa + " loss_rows");
            assertGradientClose(r.gradLogits(), ref.grad(), ref.probs(), ref.lossRows(), 40, 1.0, 2e-5, 1e-6, 1e-12,
                    isa + " grad_logits");
            if (isa == EmdKernel.CpuIsa.DEFAULT || isa.id().equals(EmdKernel.defaultCpuIsa())) {
                assertSameValues(r.lossRows(), plain.lossRows(), isa + ": the default, bit for bit");
                assertSameValues(r.gradLogits(), plain.gradLogits(), isa + ": the default, bit for bit");
            }
        }
        assertTrue(ran >= 2, "DEFAULT and GENERIC always run");
        // A CUDA kernel version does not apply to CPU tensors: every one gives the CPU kernel's bits.
        for (EmdKernel.CudaKernel k : EmdKernel.CudaKernel.values()) {
            EmdKernel.Result r = EmdKernel.compute(c.logits(), c.unitEmbedding(), c.targets(),
                    withGradient(1f).cudaKernel(k));
            assertSameValues(r.lossRows(), plain.lossRows(), "cudaKernel " + k + " on a CPU tensor");
            assertSameValues(r.gradLogits(), plain.gradLogits(), "cudaKernel " + k + " on a CPU tensor");
        }
        // Which CUDA version would run is a question about CUDA tensors only.
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> EmdKernel.cudaKernelFor(c.logits(), c.unitEmbedding(), c.targets(), withGradient(1f)));
        assertTrue(e.getMessage().startsWith("logits:"), e.getMessage());
    }

    @Test
    void versionAndCudaQueriesAnswer() {
        assertNotNull(EmdKernel.version());
        assertTrue(EmdKernel.version().startsWith("0."), EmdKernel.version());
        boolean cuda = EmdKernel.cudaAvailable();
        assertEquals(cuda, EmdNative.tasft_cuda_available() == 1);
        assertTrue(EmdKernel.CpuIsa.parse(EmdKernel.defaultCpuIsa()).available(), EmdKernel.defaultCpuIsa());
        // What AUTO means here: "none" without CUDA, else what TASFT_CUDA_KERNEL (read, never set) makes of it.
        String env = System.getenv("TASFT_CUDA_KERNEL");
        String meaning = env == null || env.isEmpty() || env.equals("auto") ? "auto"
                : java.util.List.of("v1", "v2", "v3").contains(env) ? env : "invalid";
        String kernel = EmdKernel.defaultCudaKernel();
        assertTrue(kernel.equals("none") || kernel.equals(meaning), kernel + " with TASFT_CUDA_KERNEL " + env);
        assertEquals(kernel.equals("none"), EmdKernel.version().contains("cpu only"), EmdKernel.version());
    }

    @Test
    void largeLogitsStayFinite() {
        RandomCase c = RandomCase.of(13, 4, 300, 8, 1000.0, 0.0);
        EmdKernel.Result r = EmdKernel.compute(c.logits(), c.unitEmbedding(), c.targets(), withGradient(1f));
        for (double v : values(r.lossRows())) {
            assertTrue(Double.isFinite(v) && v >= 0 && v <= 4.0001, "loss " + v);
        }
        for (double v : values(r.gradLogits())) {
            assertTrue(Double.isFinite(v), "gradient " + v);
        }
        Tensor empty = torch.empty(new long[] {0}, new TensorOptions(ScalarType.Float), new MemoryFormatOptional());
        assertEquals(0, empty.numel());
    }
}
