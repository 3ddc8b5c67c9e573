package org.tasft.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;
import org.tasft.loss.NaiveEmdLoss;

/**
 * {@link HeadKernel} against the unfused path in LibTorch: logits = h W^T, cross_entropy and {@link NaiveEmdLoss} per
 * row, autograd for dL/dh and dL/dW; odd shapes, tied and untied heads, all-CE, all-EMD and mixed rows, every
 * instruction set.
 */
class HeadKernelTest {
    private static final long IGNORE = -100;

    /** roles: "mixed", "ce" or "emd"; tied: ehat = unit rows of W. */
    private static void check(long rows, long vocab, long hidden, long dim, String roles, boolean tied,
            EmdKernel.CpuIsa isa, long seed) {
        torch.manual_seed(seed);
        TensorOptions f32 = new TensorOptions(ScalarType.Float);
        Tensor h = torch.randn(new long[] {rows, hidden}, f32);
        Tensor w = torch.randn(new long[] {vocab, hidden}, f32).mul(new Scalar(2.0 / Math.sqrt(hidden)));
        Tensor ehat = EmdKernel.unitEmbedding(tied ? w : torch.randn(new long[] {vocab, dim}, f32));
        Tensor targets = torch.randint(0, vocab, new long[] {rows}, new TensorOptions(ScalarType.Long));
        byte[] r = new byte[(int) rows];
        for (int n = 0; n < rows; n++) {
            r[n] = (byte) (roles.equals("ce") ? 1 : roles.equals("emd") ? 2 : n % 3);
            if (roles.equals("mixed") && n % 5 == 4) {
                targets.select(0, n).fill_(new Scalar(IGNORE));
            }
        }
        Tensor roleTensor = torch.tensor(r);
        float ce = 0.3f;
        float emd = -0.7f;
        HeadKernel.Result got = HeadKernel.compute(h, w, ehat, targets, roleTensor, null,
                HeadKernel.Options.defaults().scales(ce, emd).cpuIsa(isa));

        // unfused: the logits, per-row losses, autograd
        Tensor hh = h.clone().requires_grad_(true);
        Tensor ww = w.clone().requires_grad_(true);
        Tensor logits = torch.matmul(hh, ww.t());
        Tensor ceMask = roleTensor.eq(new Scalar(1L));
        Tensor emdMask = roleTensor.eq(new Scalar(2L));
        Tensor ceTargets = torch.where(ceMask, targets, torch.full_like(targets, new Scalar(IGNORE)));
        Tensor emdTargets = torch.where(emdMask, targets, torch.full_like(targets, new Scalar(IGNORE)));
        Tensor ceRows = torch.nll_loss(torch.log_softmax(logits, 1), ceTargets, new TensorOptional(), 0, IGNORE);
        Tensor emdRows = NaiveEmdLoss.lossRows(logits, ehat, emdTargets, IGNORE);
        Tensor loss = ceRows.sum().mul(new Scalar(ce)).add(emdRows.sum().mul(new Scalar(emd)));
        loss.backward();
        Tensor wantRows = ceRows.add(emdRows).detach();

        String what = rows + "x" + vocab + "x" + hidden + " " + roles + " tied=" + tied + " " + isa;
        assertTrue(rel(got.lossRows(), wantRows) < 2e-5, what + ": loss rows " + rel(got.lossRows(), wantRows));
        assertTrue(rel(got.gradHidden(), hh.grad()) < 2e-5, what + ": dh " + rel(got.gradHidden(), hh.grad()));
        assertTrue(rel(got.gradWeight(), ww.grad()) < 2e-5, what + ": dW " + rel(got.gradWeight(), ww.grad()));
    }

    private static double rel(Tensor a, Tensor b) {
        Tensor bd = b.to(ScalarType.Double);
        return a.to(ScalarType.Double).sub(bd).norm().item_double() / Math.max(bd.norm().item_double(), 1e-12);
    }

    @ParameterizedTest(name = "{0}x{1}x{2} dim {3} {4} tied={5}")
    @CsvSource({"1, 1, 1, 1, mixed, false", "7, 50, 13, 5, mixed, false", "33, 257, 37, 19, ce, false",
        "130, 1000, 64, 32, emd, false", "45, 300, 24, 24, mixed, true", "64, 700, 40, 40, emd, true",
        "17, 1031, 33, 33, ce, true"})
    void matchesTheUnfusedPathOnEveryInstructionSet(long rows, long vocab, long hidden, long dim, String roles,
            boolean tied) {
        for (EmdKernel.CpuIsa isa : EmdKernel.CpuIsa.values()) {
            if (isa.available()) {
                check(rows, vocab, hidden, dim, roles, tied, isa, rows * 31 + vocab);
            }
        }
    }

    @Test
    void accumulatesIntoAGivenGradient() {
        Tensor h = torch.ones(new long[] {2, 3});
        Tensor w = torch.ones(new long[] {4, 3});
        Tensor targets = torch.tensor(new long[] {1, 2});
        Tensor roles = torch.tensor(new byte[] {1, 1});
        Tensor into = torch.full(new long[] {4, 3}, new Scalar(5.0));
        HeadKernel.Result r = HeadKernel.compute(h, w, null, targets, roles, into, HeadKernel.Options.defaults());
        assertTrue(r.gradWeight() == into, "the given tensor is returned");
        // p = 1/4 everywhere: d/dW_v = sum_n (1/4 - [v == y_n]) h_n, so the rows sum to 5 * 4 - 2 + 2 * 4 / 4 ...
        assertEquals(5.0 * 12 + (2 * 4 * 0.25 - 2) * 3, into.sum().item_double(), 1e-5);
        assertEquals(Math.log(4), r.lossRows().select(0, 0).item_double(), 1e-6);
    }

    @Test
    void badInputsNameTheArgument() {
        Tensor h = torch.ones(new long[] {2, 3});
        Tensor w = torch.ones(new long[] {4, 3});
        Tensor targets = torch.tensor(new long[] {1, 2});
        Tensor roles = torch.tensor(new byte[] {1, 2});
        HeadKernel.Options o = HeadKernel.Options.defaults();
        assertTrue(assertThrows(IllegalArgumentException.class, () -> HeadKernel.compute(h, torch.ones(
                new long[] {4, 5}), null, targets, roles, null, o)).getMessage().startsWith("weight:"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> HeadKernel.compute(h, w, null,
                targets, targets, null, o)).getMessage().startsWith("roles:"));
        String msg = assertThrows(IllegalArgumentException.class, () -> HeadKernel.compute(h, w, null, targets,
                roles, null, o)).getMessage();
        assertTrue(msg.contains("roles[1] is EMD but unit_embedding is NULL"), msg);
        msg = assertThrows(IllegalArgumentException.class, () -> HeadKernel.compute(h, w, null,
                torch.tensor(new long[] {1, 9}), torch.tensor(new byte[] {1, 1}), null, o)).getMessage();
        assertTrue(msg.contains("targets[1] = 9 is outside [0, 4)"), msg);
    }
}
