package org.tasft.train;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.data.Batch;
import org.tasft.kernel.HeadKernel;
import org.tasft.model.CausalLm;

/**
 * One step of sft / stl / emd through the fused LM head ({@link HeadKernel}), the same losses and gradients as
 * {@link StepForward}'s logits path without ever holding the [B*T, vocab] logits, their softmax or their gradient:
 * <ol>
 *   <li>the model's forward stops at the final hidden states h [B, T, hidden] (after the last norm), in the graph;</li>
 *   <li>per row a role: CE for the safe sequences' rows, EMD (emd only) or ignored for the harmful ones; targets are
 *       the shifted labels, so prompts and padding are ignored as before;</li>
 *   <li>the kernel, outside autograd, gives the loss rows, dL/dh and dL/dW with L's normalizers (the SFT mean over
 *       the safe tokens, -lambda over the harmful sequences or tokens, each over the whole batch on data-parallel
 *       ranks, {@link ShardTotals});</li>
 *   <li>one multi-root backward with roots h (gradient dL/dh: everything below the head, LoRA adapters included) and
 *       the head weight, a leaf (gradient dL/dW, accumulated into its grad; for a tied head the engine adds it to the
 *       embedding's gradient from the lookup). A frozen head gets no dL/dW.</li>
 * </ol>
 */
final class FusedHeadStep {
    private FusedHeadStep() {
    }

    /** Sft (and stl): CE on the safe sequences, the harmful ones ignored. */
    static StepLoss sft(CausalLm model, Batch batch, ShardTotals totals) {
        return run(model, batch, totals, null);
    }

    /** TaSft: CE on the safe sequences and lambda * L_EMD on the harmful ones. */
    static StepLoss emd(CausalLm model, Batch batch, ShardTotals totals, TaSft objective) {
        return run(model, batch, totals, objective);
    }

    private static StepLoss run(CausalLm model, Batch batch, ShardTotals totals, TaSft emd) {
        Device device = model.inputEmbeddingWeight().device();
        Tensor h = model.hiddenStates(StepForward.onDevice(batch.inputIds(), device),
                StepForward.onDevice(batch.attentionMask(), device));   // [B, T, H]
        long b = h.size(0);
        long t = h.size(1);
        long dimH = h.size(2);
        Tensor hostTargets = StepForward.shiftedTargets(batch.labels()).view(-1).contiguous();   // [B*T]
        Tensor targets = StepForward.onDevice(hostTargets, device);
        boolean[] harmful = batch.harmful();
        byte[] roles = new byte[(int) (b * t)];
        long[] tokens = countTokens(hostTargets, harmful, t);   // safe tokens, harmful tokens (no device wait)
        int harmfulSequences = 0;
        for (int s = 0; s < b; s++) {
            harmfulSequences += harmful[s] ? 1 : 0;
            byte role = (byte) (harmful[s]
                    ? (emd == null ? HeadKernel.Role.IGNORE : HeadKernel.Role.EMD).code()
                    : HeadKernel.Role.CE.code());
            java.util.Arrays.fill(roles, (int) (s * t), (int) ((s + 1) * t), role);
        }
        int safeSequences = (int) b - harmfulSequences;
        double ceScale;
        double emdScale = 0.0;
        if (emd == null) {
            double n = totals.meanOverRanks(tokens[0])[0];
            ceScale = tokens[0] > 0 ? 1.0 / n : 0.0;
        } else {
            double[] n = totals.meanOverRanks(tokens[0], emd.reduction() == org.tasft.loss.EmdLoss.Reduction.SEQUENCE
                    ? harmfulSequences : tokens[1]);
            ceScale = tokens[0] > 0 ? 1.0 / n[0] : 0.0;
            emdScale = tokens[1] > 0 && n[1] > 0 ? -emd.lambda() / n[1] : 0.0;
        }
        Tensor roleTensor = torch.empty(new long[] {b * t}, new org.bytedeco.pytorch.TensorOptions(ScalarType.Char),
                new org.bytedeco.pytorch.MemoryFormatOptional());
        new BytePointer(roleTensor.mutable_data_ptr()).capacity(roles.length).put(roles);
        roleTensor = roleTensor.to(h.device(), ScalarType.Char);

        Tensor w = model.lmHeadWeight();
        boolean headTrains = w.requires_grad();
        Tensor ehat = emd != null && tokens[1] > 0 ? emd.unitEmbedding(model) : null;
        Tensor hidden = h.detach().view(b * t, dimH).contiguous();
        HeadKernel.Result r = HeadKernel.compute(hidden, w.detach(), ehat, targets, roleTensor, null,
                HeadKernel.Options.defaults().ignoreIndex(StepForward.IGNORE)
                        .scales((float) ceScale, (float) emdScale).gradients(true, headTrains));

        Tensor isCe = roleTensor.eq(new Scalar((long) HeadKernel.Role.CE.code()));
        double ceSum = r.lossRows().mul(isCe).sum(new ScalarTypeOptional(ScalarType.Double)).item_double();
        double sftValue = ceScale * ceSum;
        double termValue = 0.0;
        if (emdScale != 0.0) {
            Tensor isEmd = roleTensor.eq(new Scalar((long) HeadKernel.Role.EMD.code()));
            termValue = emdScale * r.lossRows().mul(isEmd).sum(new ScalarTypeOptional(ScalarType.Double))
                    .item_double();
        }
        if (tokens[0] > 0 || (emd != null && tokens[1] > 0)) {
            TensorVector roots = new TensorVector(h);
            TensorVector grads = new TensorVector(r.gradHidden().view(b, t, dimH).to(h.scalar_type().intern()));
            if (headTrains) {
                roots.push_back(w);
                grads.push_back(r.gradWeight().to(w.scalar_type().intern()));
            }
            torch.backward(roots, grads, new BoolOptional(), false, new TensorVector());
        }
        return new StepLoss(sftValue + termValue, sftValue, termValue, tokens[0], tokens[1], safeSequences,
                harmfulSequences);
    }

    /** {safe tokens, harmful tokens}: targets that are not ignored, by the kind of their sequence. */
    private static long[] countTokens(Tensor targets, boolean[] harmful, long t) {
        Tensor perSequence = targets.view(harmful.length, t).ne(new Scalar(StepForward.IGNORE)).sum(1).cpu();
        long[] out = new long[2];
        for (int s = 0; s < harmful.length; s++) {
            out[harmful[s] ? 1 : 0] += perSequence.select(0, s).item_long();
        }
        return out;
    }
}
