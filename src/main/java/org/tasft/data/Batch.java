package org.tasft.data;

import java.util.Objects;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * One training batch as the model and the objective see it, Hugging Face style: labels are aligned with the input
 * ids (not shifted; the objective shifts them: logits at position t predict labels[t + 1]) and carry
 * {@link #IGNORE_INDEX} on prompt tokens and padding.
 *
 * @param inputIds      int64 [batch, seq]
 * @param labels        int64 [batch, seq]; {@link #IGNORE_INDEX} where no loss is taken
 * @param attentionMask int64 [batch, seq]; 1 for real tokens, 0 for padding
 * @param harmful       per sequence: true for a harmful example (prompt + harmful response, pushed away by the
 *                      EMD term or a baseline's unlearning loss), false for a safe one (SFT)
 */
public record Batch(Tensor inputIds, Tensor labels, Tensor attentionMask, boolean[] harmful) {
    /** The label of positions without a target, as in PyTorch's cross_entropy and transformers. */
    public static final long IGNORE_INDEX = -100L;

    public Batch {
        Objects.requireNonNull(inputIds, "inputIds");
        Objects.requireNonNull(labels, "labels");
        Objects.requireNonNull(attentionMask, "attentionMask");
        Objects.requireNonNull(harmful, "harmful");
        if (inputIds.dim() != 2) {
            throw new IllegalArgumentException("inputIds: expected [batch, seq], got " + inputIds.dim() + " dims");
        }
        long b = inputIds.size(0), t = inputIds.size(1);
        if (labels.dim() != 2 || labels.size(0) != b || labels.size(1) != t) {
            throw new IllegalArgumentException("labels: expected the shape of inputIds [" + b + ", " + t + "]");
        }
        if (attentionMask.dim() != 2 || attentionMask.size(0) != b || attentionMask.size(1) != t) {
            throw new IllegalArgumentException("attentionMask: expected the shape of inputIds [" + b + ", " + t + "]");
        }
        if (harmful.length != b) {
            throw new IllegalArgumentException("harmful: expected " + b + " flags, got " + harmful.length);
        }
    }

    public int size() {
        return harmful.length;
    }

    public int harmfulCount() {
        int n = 0;
        for (boolean h : harmful) {
            n += h ? 1 : 0;
        }
        return n;
    }

    /**
     * The next-token targets of {@code labels} [batch, seq]: {@code out[b, t] = labels[b, t + 1]},
     * {@code out[b, seq - 1] = IGNORE_INDEX}; int64 on the labels' device.
     */
    public static Tensor nextTokenTargets(Tensor labels) {
        Tensor l = labels.to(torch.ScalarType.Long);
        Tensor out = torch.full_like(l, new Scalar(IGNORE_INDEX));
        long t = l.size(1);
        if (t > 1) {
            out.narrow(1, 0, t - 1).copy_(l.narrow(1, 1, t - 1));
        }
        return out;
    }
}
