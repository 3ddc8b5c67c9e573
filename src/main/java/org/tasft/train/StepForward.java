package org.tasft.train;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.data.Batch;
import org.tasft.model.CausalLm;

/**
 * One forward pass of a batch and the row selections the objectives take their losses on.
 *
 * <p>The causal shift is applied to the LABELS, not the logits: {@code targets[b, t] = labels[b, t + 1]} and
 * {@code targets[b, T - 1] = ignore}, so that the logits [B, T, V] are used as the free view [B*T, V] and no
 * logits-sized shifted copy is ever made (shifting the logits, {@code logits[:, :-1]}, is not contiguous and would be
 * copied by reshape).
 *
 * <p>Selecting the rows of safe or harmful sequences ({@link #rows}) without a logits-sized copy:
 * <ul>
 *   <li>when the selected sequences are one contiguous run of the batch (e.g. batches ordered safe-first, or a batch
 *       of one kind), the rows are {@code logits.narrow(0, first, count).view(count * T, V)}, a view: the losses and
 *       the EMD kernel's gradient then cost only the selected rows;</li>
 *   <li>otherwise the rows are all B*T rows with the targets of the other sequences set to the ignore index: still no
 *       copy of the logits, and the kernel skips ignored rows (they get a zero gradient, so the kernel's gradient
 *       buffer is B*T*V instead of the selected rows', which is also what {@code index_select}'s backward would
 *       allocate, on top of index_select's own copy of the selected logits).</li>
 * </ul>
 */
final class StepForward {
    static final long IGNORE = Batch.IGNORE_INDEX;

    /** A set of logits rows with their targets. */
    record Rows(Tensor logits, Tensor targets, long tokens, int sequences) {
        boolean isEmpty() {
            return tokens == 0;
        }
    }

    final Tensor logits;   // [B, T, V]
    final Tensor targets;  // [B, T], shifted labels, on the logits' device
    /** The same on the host: token counts come from here, so a GPU step does not wait for the device to count. */
    private final Tensor hostTargets;
    final long batch;
    final long seq;
    final long vocab;

    private StepForward(Tensor logits, Tensor hostTargets) {
        this.logits = logits;
        this.hostTargets = hostTargets;
        this.targets = logits.device().is_cpu() ? hostTargets : hostTargets.to(logits.device(), ScalarType.Long);
        this.batch = logits.size(0);
        this.seq = logits.size(1);
        this.vocab = logits.size(2);
    }

    static StepForward run(CausalLm model, Batch batch) {
        Device device = model.inputEmbeddingWeight().device();
        Tensor ids = onDevice(batch.inputIds(), device);
        Tensor mask = onDevice(batch.attentionMask(), device);
        Tensor logits = model.forward(ids, mask, null);
        return new StepForward(logits, shiftedTargets(batch.labels()));
    }

    /** The collator's host tensor on the model's device (itself on the CPU). */
    static Tensor onDevice(Tensor t, Device device) {
        return device.is_cpu() ? t : t.to(device, t.scalar_type().intern());
    }

    /** {@code out[b, t] = labels[b, t + 1]}, {@code out[b, T - 1] = ignore}; int64 on the labels' device. */
    static Tensor shiftedTargets(Tensor labels) {
        return Batch.nextTokenTargets(labels);
    }

    /** All B*T rows with their shifted targets. */
    Rows allRows() {
        Tensor t = targets.view(-1);
        return new Rows(logits.view(batch * seq, vocab), t, count(hostTargets), (int) batch);
    }

    /** log p(y|x) per sequence: the sum of log p over its targets, [B] in the graph. */
    Tensor sequenceLogProbs() {
        return tokenLogProbs(allRows()).view(batch, seq).sum(1);
    }

    /** The logits rows and targets of the sequences with {@code harmful[b] == harmfulSide}. */
    Rows rows(boolean[] harmful, boolean harmfulSide) {
        int first = -1, last = -1, count = 0;
        for (int b = 0; b < harmful.length; b++) {
            if (harmful[b] == harmfulSide) {
                first = first < 0 ? b : first;
                last = b;
                count++;
            }
        }
        if (count == 0) {
            return new Rows(logits.view(batch * seq, vocab).narrow(0, 0, 0),
                    targets.view(-1).narrow(0, 0, 0), 0, 0);
        }
        Tensor rowLogits;
        Tensor rowTargets;
        long tokens;
        if (last - first + 1 == count) {
            rowLogits = logits.narrow(0, first, count).view(count * seq, vocab);
            rowTargets = targets.narrow(0, first, count).reshape(-1).contiguous();
            tokens = count(hostTargets.narrow(0, first, count));
        } else {
            rowLogits = logits.view(batch * seq, vocab);
            Tensor host = hostTargets.clone();
            for (int b = 0; b < harmful.length; b++) {
                if (harmful[b] != harmfulSide) {
                    host.select(0, b).fill_(new Scalar(IGNORE));
                }
            }
            tokens = count(host);
            rowTargets = (logits.device().is_cpu() ? host : host.to(logits.device(), ScalarType.Long)).view(-1);
        }
        return new Rows(rowLogits, rowTargets, tokens, count);
    }

    /** Non-ignored targets of a host tensor. */
    private static long count(Tensor hostTargets) {
        return hostTargets.ne(new Scalar(IGNORE)).sum().item_long();
    }

    /** Sum over the rows' non-ignored targets of -log p(target), a 0-dim tensor in the graph. */
    static Tensor nllSum(Rows rows) {
        return torch.nll_loss(logSoftmax(rows), rows.targets(), new TensorOptional(), 2, IGNORE);
    }

    /** log p(target) per row, 0 for ignored rows, in the graph. */
    static Tensor tokenLogProbs(Rows rows) {
        return torch.nll_loss(logSoftmax(rows), rows.targets(), new TensorOptional(), 0, IGNORE).neg();
    }

    /**
     * log softmax of the rows' logits in float32 whatever their dtype, as transformers' loss upcasts them: in bf16 a
     * log-probability near -6 is only resolved to 0.03 and the sum over a batch's tokens drifts by percents (a
     * bf16 first loss was 2.7% below PyTorch's on the same logits). The gradient flows back in the logits' dtype.
     */
    private static Tensor logSoftmax(Rows rows) {
        return torch.log_softmax(rows.logits(), 1, new ScalarTypeOptional(ScalarType.Float));
    }

    /** L_SFT (mean of -log p over the safe rows' targets), or null when there is none. */
    static Tensor sftLoss(Rows safe) {
        return sftLoss(safe, safe.tokens());
    }

    /**
     * The sum of -log p over the safe rows' targets divided by {@code normalizer} (this batch's safe-token count, or
     * its share of the count over data-parallel ranks, see {@link ShardTotals}), or null when these rows have none.
     */
    static Tensor sftLoss(Rows safe, double normalizer) {
        return safe.isEmpty() ? null : nllSum(safe).div(new Scalar(normalizer));
    }

    static void backward(Tensor loss) {
        if (loss != null) {
            loss.backward();
        }
    }

    static double value(Tensor loss) {
        return loss == null ? 0.0 : loss.item_double();
    }

    static Tensor add(Tensor a, Tensor b) {
        return a == null ? b : b == null ? a : a.add(b);
    }
}
