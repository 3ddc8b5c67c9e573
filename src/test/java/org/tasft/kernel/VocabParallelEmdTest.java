package org.tasft.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.testing.TensorAssert.assertClose;
import static org.tasft.testing.TensorAssert.assertGradientClose;
import static org.tasft.testing.TensorAssert.assertSameValues;
import static org.tasft.testing.TensorAssert.values;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tasft.kernel.EmdKernel.GradientMode;
import org.tasft.kernel.EmdKernel.Options;
import org.tasft.kernel.VocabParallelEmd.Merged;
import org.tasft.kernel.VocabParallelEmd.Partial;
import org.tasft.kernel.VocabParallelEmd.Slice;
import org.tasft.testing.RandomCase;

/**
 * The vocabulary split in Java: each slice's logits and embedding rows through {@link VocabParallelEmd}, against the
 * unsplit {@link EmdKernel} (a quarter of the oracle's tolerance, as in the native tests) and LibTorch autograd.
 */
class VocabParallelEmdTest {
    private static final long IGNORE = RandomCase.IGNORE;
    private static final float SCALE = -0.37f;

    private static Options options() {
        return Options.defaults().ignoreIndex(IGNORE).gradScale(SCALE).gradient(GradientMode.NEW_TENSOR)
                .expectedEmbedding(true);
    }

    /** Cut points "0 a b ... V", or "each" for slices of width 1. */
    private static long[] cuts(String spec, long vocab) {
        if (spec.equals("each")) {
            long[] c = new long[(int) vocab + 1];
            for (int i = 0; i <= vocab; i++) {
                c[i] = i;
            }
            return c;
        }
        long[] c = Arrays.stream(spec.trim().split(" +")).mapToLong(Long::parseLong).toArray();
        c[c.length - 1] = vocab;
        return c;
    }

    /** The split result: merged statistics and the slices' gradients side by side. */
    record Split(Merged merged, Tensor grad) {
    }

    /**
     * Steps 1 to 3 over the slices; compact = copy each slice into its own contiguous tensors (as a rank holds them)
     * instead of column views of the full logits.
     */
    private static Split split(Tensor logits, Tensor unit, Tensor targets, long[] cuts, boolean compact,
            Options options) {
        long vocab = logits.size(1);
        List<Tensor> sliceLogits = new ArrayList<>();
        List<Tensor> sliceUnit = new ArrayList<>();
        List<Partial> partials = new ArrayList<>();
        for (int k = 0; k + 1 < cuts.length; k++) {
            Tensor z = logits.narrow(1, cuts[k], cuts[k + 1] - cuts[k]);
            Tensor e = unit.narrow(0, cuts[k], cuts[k + 1] - cuts[k]);
            sliceLogits.add(compact ? z.contiguous() : z);
            sliceUnit.add(e);
            partials.add(VocabParallelEmd.partial(sliceLogits.get(k), e, targets, new Slice(cuts[k], vocab), options));
        }
        Merged merged = VocabParallelEmd.merge(partials, targets, options);
        TensorVector grads = new TensorVector();
        for (int k = 0; k + 1 < cuts.length; k++) {
            grads.push_back(VocabParallelEmd.backward(sliceLogits.get(k), sliceUnit.get(k), targets,
                    new Slice(cuts[k], vocab), merged, options));
        }
        return new Split(merged, torch.cat(grads, 1));
    }

    private static void assertMatchesUnsplit(Tensor logits, Tensor unit, Tensor targets, Split s, String what) {
        EmdKernel.Result whole = EmdKernel.compute(logits, unit, targets, options());
        Tensor probs = logits.to(ScalarType.Double).softmax(1);
        long dim = unit.size(1);
        assertClose(s.merged().lossRows(), whole.lossRows(), 5e-6, what + ": loss_rows vs unsplit");
        assertClose(s.merged().expectedEmbedding(), whole.expectedEmbedding(), 5e-6, what + ": expected vs unsplit");
        assertGradientClose(s.grad(), whole.gradLogits(), probs, whole.lossRows(), dim, Math.abs(SCALE), 5e-6, 5e-7,
                1e-30, what + ": gradient vs unsplit");
        EmdKernelTest.Reference ref = EmdKernelTest.Reference.of(logits, unit, targets, SCALE);
        assertClose(s.merged().lossRows(), ref.lossRows(), 2e-5, what + ": loss_rows vs autograd");
        assertClose(s.merged().expectedEmbedding(), ref.expected(), 2e-5, what + ": expected vs autograd");
        assertGradientClose(s.grad(), ref.grad(), ref.probs(), ref.lossRows(), dim, Math.abs(SCALE), 2e-5, 1e-6,
                1e-12, what + ": gradient vs autograd");
    }

    @ParameterizedTest(name = "rows={0} vocab={1} dim={2} cuts=[{3}] ignored={4} masked={5}")
    @CsvSource({
        "7, 100, 16, '0 100', 0.2, 0",
        "7, 100, 16, '0 50 100', 0.2, 0",
        "9, 1001, 33, '0 1 500 999 1001', 0.1, 0",
        "5, 37, 3, 'each', 0.2, 0",
        "5, 64, 5, '0 10 30 64', 0.0, 20",
        "6, 200, 7, '0 100 200', 1.0, 0",
        "13, 4099, 64, '0 1024 1025 3000 4099', 0.15, 300",
        "3, 301, 130, '0 150 301', 0.0, 0",
    })
    void anySplitGivesTheUnsplitResult(long rows, long vocab, long dim, String cutSpec, double ignored,
            long masked) {
        RandomCase c = RandomCase.of(rows * 31 + vocab, rows, vocab, dim, 3.0, ignored);
        Tensor logits = c.logits();
        if (masked > 0) {  // -inf columns: whole slices of them where a cut falls inside
            logits = logits.clone();
            logits.narrow(1, vocab / 4, masked).fill_(new Scalar(Double.NEGATIVE_INFINITY));
        }
        long[] cuts = cuts(cutSpec, vocab);
        for (boolean compact : new boolean[] {false, true}) {
            Split s = split(logits, c.unitEmbedding(), c.targets(), cuts, compact, options());
            assertMatchesUnsplit(logits, c.unitEmbedding(), c.targets(), s, (compact ? "compact " : "views ")
                    + Arrays.toString(cuts).substring(0, Math.min(60, Arrays.toString(cuts).length())));
        }
    }

    /** Options.cpuIsa reaches the partial and the backward: every instruction set this CPU has, the same result. */
    @Test
    void everyInstructionSetGivesTheUnsplitResult() {
        RandomCase c = RandomCase.of(77, 9, 1001, 33, 3.0, 0.1);
        long[] cuts = {0, 1, 500, 999, 1001};
        Split plain = split(c.logits(), c.unitEmbedding(), c.targets(), cuts, false, options());
        for (EmdKernel.CpuIsa isa : EmdKernel.CpuIsa.values()) {
            Options pinned = options().cpuIsa(isa);
            if (!isa.available()) {
                UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                        () -> VocabParallelEmd.partial(c.logits(), c.unitEmbedding(), c.targets(),
                                new Slice(0, 1001), pinned));
                assertMessage(e, "cpu_isa " + isa.id() + " is not available");
                continue;
            }
            Split s = split(c.logits(), c.unitEmbedding(), c.targets(), cuts, false, pinned);
            assertMatchesUnsplit(c.logits(), c.unitEmbedding(), c.targets(), s, isa.id());
            if (isa.id().equals(EmdKernel.defaultCpuIsa())) {
                assertSameValues(s.merged().lossRows(), plain.merged().lossRows(), isa + ": the default's bits");
                assertSameValues(s.grad(), plain.grad(), isa + ": the default's bits");
            }
        }
    }

    @Test
    void aSliceWithoutAnyTargetContributesOnlyToTheSoftmax() {
        RandomCase c = RandomCase.of(41, 8, 300, 12, 3.0, 0.0);
        Tensor targets = c.targets().remainder(new Scalar(100));  // every target in [0, 100)
        Slice upper = new Slice(100, 300);
        Partial p = VocabParallelEmd.partial(c.logits().narrow(1, 100, 200), c.unitEmbedding().narrow(0, 100, 200),
                targets, upper, options());
        assertEquals(0.0, p.sliceStats().narrow(1, 1, 1).abs().sum().item_double(), "t = 0: no target here");
        assertEquals(0.0, p.sliceStats().narrow(1, 2 + 12, 12).abs().sum().item_double(), "no target row");
        Split s = split(c.logits(), c.unitEmbedding(), targets, new long[] {0, 100, 300}, false, options());
        assertMatchesUnsplit(c.logits(), c.unitEmbedding(), targets, s, "targets in the first slice only");
    }

    @Test
    void inPlaceGradientsOverColumnViewsFillTheFullLogits() {
        RandomCase c = RandomCase.of(42, 11, 517, 20, 3.0, 0.2);
        Options inPlace = options().gradient(GradientMode.IN_PLACE);
        EmdKernel.Result whole = EmdKernel.compute(c.logits(), c.unitEmbedding(), c.targets(), options());
        Tensor full = c.logits().clone();
        long[] cuts = {0, 200, 201, 517};
        List<Partial> partials = new ArrayList<>();
        for (int k = 0; k < 3; k++) {
            partials.add(VocabParallelEmd.partial(full.narrow(1, cuts[k], cuts[k + 1] - cuts[k]),
                    c.unitEmbedding().narrow(0, cuts[k], cuts[k + 1] - cuts[k]), c.targets(),
                    new Slice(cuts[k], 517), inPlace));
        }
        Merged merged = VocabParallelEmd.merge(partials, c.targets(), inPlace);
        long version = full._version();
        for (int k = 0; k < 3; k++) {
            Tensor view = full.narrow(1, cuts[k], cuts[k + 1] - cuts[k]);
            Tensor g = VocabParallelEmd.backward(view, c.unitEmbedding().narrow(0, cuts[k], cuts[k + 1] - cuts[k]),
                    c.targets(), new Slice(cuts[k], 517), merged, inPlace);
            assertSame(view, g);
        }
        assertTrue(full._version() > version, "autograd version counter bumped");
        assertGradientClose(full, whole.gradLogits(), c.logits().to(ScalarType.Double).softmax(1), whole.lossRows(),
                20, Math.abs(SCALE), 5e-6, 5e-7, 1e-30, "in-place gradient");
    }

    @Test
    void allReduceRecipeGivesTheSameResult() {
        RandomCase c = RandomCase.of(43, 17, 2049, 48, 30.0, 0.2);
        Tensor logits = c.logits().clone();
        logits.narrow(1, 0, 600).fill_(new Scalar(Double.NEGATIVE_INFINITY));  // the first rank's slice is all -inf
        long[] cuts = {0, 600, 1400, 2049};
        List<Partial> partials = new ArrayList<>();
        TensorVector maxima = new TensorVector();
        for (int k = 0; k < 3; k++) {
            Partial p = VocabParallelEmd.partial(logits.narrow(1, cuts[k], cuts[k + 1] - cuts[k]),
                    c.unitEmbedding().narrow(0, cuts[k], cuts[k + 1] - cuts[k]), c.targets(),
                    new Slice(cuts[k], 2049), options());
            partials.add(p);
            maxima.push_back(p.sliceMax());
        }
        Merged gathered = VocabParallelEmd.merge(partials, c.targets(), options());
        // all_reduce(MAX), rescale, all_reduce(SUM), merge of one: what a trainer does with c10d
        Tensor globalMax = torch.stack(maxima).amax(new long[] {0}, false);
        Tensor sum = null;
        for (Partial p : partials) {
            VocabParallelEmd.rescale(p, globalMax);
            sum = sum == null ? p.sliceStats().clone() : sum.add(p.sliceStats());
        }
        Merged reduced = VocabParallelEmd.merge(globalMax.unsqueeze(0), sum.unsqueeze(0), c.targets(), options());
        assertClose(reduced.lossRows(), gathered.lossRows(), 2e-6, "loss_rows");
        assertClose(reduced.residual(), gathered.residual(), 2e-6, "residual");
        assertSameValues(reduced.rowMax(), gathered.rowMax(), "row max");
        assertClose(reduced.logSumExp(), gathered.logSumExp(), 1e-6, "log-sum-exp");
        EmdKernelTest.Reference ref = EmdKernelTest.Reference.of(logits, c.unitEmbedding(), c.targets(), 1);
        assertClose(reduced.lossRows(), ref.lossRows(), 2e-5, "loss_rows vs autograd");
        Tensor lse = logits.to(ScalarType.Double).logsumexp(new long[] {1}, false)
                .masked_fill(c.targets().eq(new Scalar(IGNORE)), new Scalar(0.0));
        assertClose(reduced.logSumExp(), lse, 1e-6, "log-sum-exp vs LibTorch");
    }

    @Test
    void lowPrecisionSlicesMatchTheUnsplitKernelToOneRounding() {
        RandomCase c = RandomCase.of(44, 19, 1003, 36, 3.0, 0.1);
        for (ScalarType type : new ScalarType[] {ScalarType.BFloat16, ScalarType.Half}) {
            Tensor logits = c.logits().to(type);
            Tensor unit = c.unitEmbedding().to(type);
            EmdKernel.Result whole = EmdKernel.compute(logits, unit, c.targets(), options());
            Split s = split(logits, unit, c.targets(), new long[] {0, 400, 1003}, true, options());
            assertEquals(type, s.grad().scalar_type().intern(), "gradient dtype");
            assertClose(s.merged().lossRows(), whole.lossRows(), 5e-6, type + " loss_rows");
            double ulp = type == ScalarType.BFloat16 ? 8e-3 : 1e-3;
            assertGradientClose(s.grad(), whole.gradLogits(), logits.to(ScalarType.Double).softmax(1),
                    whole.lossRows(), 36, Math.abs(SCALE), ulp, 5e-7, type == ScalarType.Half ? 6e-8 : 1e-30,
                    type + " gradient");
        }
    }

    @Test
    void mergeWithoutExpectedEmbeddingAndEmptyBatch() {
        RandomCase c = RandomCase.of(45, 4, 30, 6, 2.0, 0.0);
        Options noExpected = options().expectedEmbedding(false);
        Partial p = VocabParallelEmd.partial(c.logits(), c.unitEmbedding(), c.targets(), new Slice(0, 30), noExpected);
        Merged m = VocabParallelEmd.merge(List.of(p), c.targets(), noExpected);
        assertNull(m.expectedEmbedding());
        assertClose(m.lossRows(), EmdKernel.compute(c.logits(), c.unitEmbedding(), c.targets(), options()).lossRows(),
                5e-6, "loss_rows");
        Tensor none = c.logits().narrow(0, 0, 0);
        Tensor noTargets = c.targets().narrow(0, 0, 0);
        Partial empty = VocabParallelEmd.partial(none, c.unitEmbedding(), noTargets, new Slice(0, 30), options());
        assertEquals(0, empty.sliceMax().numel());
        Merged merged = VocabParallelEmd.merge(List.of(empty), noTargets, options());
        assertEquals(0, merged.lossRows().numel());
        assertEquals(0, VocabParallelEmd.backward(none, c.unitEmbedding(), noTargets, new Slice(0, 30), merged,
                options()).numel());
    }

    @Test
    void badInputsAreIllegalArgumentsNamingTheArgument() {
        RandomCase c = RandomCase.of(46, 3, 10, 4, 1.0, 0.0);
        Tensor targets = longs(1, 7, 9);
        Tensor low = c.logits().narrow(1, 0, 6);
        Tensor lowUnit = c.unitEmbedding().narrow(0, 0, 6);
        Slice lowSlice = new Slice(0, 10);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new Slice(10, 10)), "slice");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> VocabParallelEmd.partial(low, lowUnit,
                targets, new Slice(5, 10), options())), "slice: columns [5, 11)");
        Tensor outside = longs(1, 7, 10);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> VocabParallelEmd.partial(low, lowUnit,
                outside, lowSlice, options())), "targets[2] = 10 is outside [0, 10)");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> VocabParallelEmd.partial(low,
                c.unitEmbedding(), targets, lowSlice, options())), "unitEmbedding: vocab mismatch");

        Partial lowPartial = VocabParallelEmd.partial(low, lowUnit, targets, lowSlice, options());
        // targets 7 and 9 lie in no slice when the upper one is left out
        assertMessage(assertThrows(IllegalArgumentException.class, () -> VocabParallelEmd.merge(List.of(lowPartial),
                targets, options())), "targets[1] = 7 lies in 0 of the 1 slices");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> VocabParallelEmd.merge(List.of(), targets,
                options())), "slices");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> VocabParallelEmd.merge(List.of(lowPartial),
                targets.narrow(0, 0, 2), options())), "targets");
        Partial high = VocabParallelEmd.partial(c.logits().narrow(1, 6, 4), c.unitEmbedding().narrow(0, 6, 4),
                targets, new Slice(6, 10), options());
        Merged merged = VocabParallelEmd.merge(List.of(lowPartial, high), targets, options());
        assertMessage(assertThrows(IllegalArgumentException.class, () -> VocabParallelEmd.backward(low, lowUnit,
                targets, lowSlice, merged, options().gradient(GradientMode.NONE))), "options: gradient NONE");
        Merged wrongDim = new Merged(merged.lossRows(), merged.rowMax(), merged.rowLogSumExp(),
                merged.residual().narrow(1, 0, 3).contiguous(), merged.residualDotExpected(), null);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> VocabParallelEmd.backward(low, lowUnit,
                targets, lowSlice, wrongDim, options())), "merged.residual: expected shape [3, 4]");
        Merged wrongType = new Merged(merged.lossRows(), merged.rowMax().to(ScalarType.Double), merged.rowLogSumExp(),
                merged.residual(), merged.residualDotExpected(), null);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> VocabParallelEmd.backward(low, lowUnit,
                targets, lowSlice, wrongType, options())), "merged.rowMax: dtype");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> VocabParallelEmd.rescale(lowPartial,
                torch.zeros(new long[] {2}, new TensorOptions(ScalarType.Float)))), "globalMax");
        // the JVM survives and the next call works
        assertTrue(values(merged.lossRows())[0] >= 0);
        Tensor again = VocabParallelEmd.backward(low, lowUnit, targets, lowSlice, merged, options());
        assertEquals(6, again.size(1));
        assertTrue(again.isfinite().all().item_bool(), "finite gradient");
        assertEquals(0.0, merged.lossRows().sub(EmdKernel.compute(c.logits(), c.unitEmbedding(), targets, options())
                .lossRows()).abs().max().item_double(), 1e-6);
        assertEquals(ScalarType.Float, merged.lossRows().scalar_type().intern());
    }

    private static Tensor longs(long... v) {
        Tensor t = torch.empty(new long[] {v.length}, new TensorOptions(ScalarType.Long), new MemoryFormatOptional());
        t.data_ptr_long().put(v);
        return t;
    }

    private static void assertMessage(Throwable e, String needle) {
        assertTrue(e.getMessage() != null && e.getMessage().contains(needle),
                "message '" + e.getMessage() + "' does not contain '" + needle + "'");
    }
}
