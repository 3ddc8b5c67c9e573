package org.tasft.model;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * What every decoder here shares: position ids from the attention mask, the boolean causal / padding / sliding-window
 * mask, and eager attention ({@code softmax(q k^T * scale + mask) v}) as transformers' {@code eager_attention_forward}
 * computes it, with masked scores set to the dtype's lowest finite value (so a query row with nothing to attend to, a
 * left-padding position, gets a uniform distribution rather than NaN, as in transformers).
 */
final class CausalAttention {
    private CausalAttention() {
    }

    /**
     * Position ids [batch, seq] (int64, on the ids' device): with no mask {@code past .. past+seq-1}; with a mask
     * transformers' generate rule {@code cumsum(mask) - 1}, padded positions set to 1, the last {@code seq} columns.
     */
    static Tensor positionIds(Tensor inputIds, Tensor attentionMask, long past) {
        long seq = inputIds.size(1);
        if (attentionMask == null) {
            return torch.arange(new Scalar(past), new Scalar(past + seq), longsOn(inputIds.device())).unsqueeze(0)
                    .expand(inputIds.size(0), seq);
        }
        Tensor mask = attentionMask.to(ScalarType.Long);
        Tensor pos = mask.cumsum(-1).sub(new Scalar(1L)).masked_fill(mask.eq(new Scalar(0L)), new Scalar(1L));
        return pos.narrow(1, pos.size(1) - seq, seq);
    }

    /** Checks the mask's shape against the ids and the cache: [batch, past + seq]. */
    static void checkMask(Tensor inputIds, Tensor attentionMask, long past) {
        if (inputIds.dim() != 2) {
            throw new IllegalArgumentException("inputIds must be [batch, seq], not " + shape(inputIds));
        }
        if (attentionMask == null) {
            return;
        }
        if (attentionMask.dim() != 2 || attentionMask.size(0) != inputIds.size(0)
                || attentionMask.size(1) != past + inputIds.size(1)) {
            throw new IllegalArgumentException("attentionMask must be [batch, past + seq] = [" + inputIds.size(0)
                    + ", " + (past + inputIds.size(1)) + "] (" + past + " cached positions), not "
                    + shape(attentionMask));
        }
    }

    /**
     * Which keys each query may see: bool [batch or 1, 1, seq, past + seq]. Query i sits at cache index past + i;
     * key j is visible when j <= past + i, the mask (if any) marks j real, and, with a sliding window w, when
     * j > past + i - w (the last w cache positions, itself included, as transformers' sliding_window_overlay).
     */
    static Tensor allowed(Tensor attentionMask, long past, long seq, int slidingWindow, Device device) {
        TensorOptions longs = longsOn(device);
        Tensor q = torch.arange(new Scalar(past), new Scalar(past + seq), longs).view(seq, 1);
        Tensor kv = torch.arange(new Scalar(0L), new Scalar(past + seq), longs).view(1, past + seq);
        Tensor allowed = kv.le(q);
        if (slidingWindow > 0) {
            allowed = allowed.bitwise_and(kv.gt(q.sub(new Scalar((long) slidingWindow))));
        }
        allowed = allowed.view(1, 1, seq, past + seq);
        if (attentionMask != null) {
            Tensor real = attentionMask.ne(new Scalar(0L)).view(attentionMask.size(0), 1, 1, past + seq);
            allowed = allowed.bitwise_and(real);
        }
        return allowed;
    }

    /**
     * Eager attention. q [b, heads, s, d]; k, v [b, kvHeads, t, d] (repeated here for grouped-query attention);
     * allowed bool broadcastable to [b, heads, s, t]. Returns [b, s, heads * d].
     *
     * @param divide  true: scores / sqrt(d) (GPT-2), false: scores * scale (Llama family, {@code head_dim ** -0.5})
     * @param dropout probability of dropping an attention weight (training mode only; 0 for none)
     */
    static Tensor attend(Tensor q, Tensor k, Tensor v, Tensor allowed, double scale, boolean divide, double dropout) {
        long heads = q.size(1);
        long kvHeads = k.size(1);
        if (kvHeads != heads) {
            k = repeatKv(k, heads / kvHeads);
            v = repeatKv(v, heads / kvHeads);
        }
        Tensor scores = torch.matmul(q, k.transpose(2, 3));
        scores = divide ? scores.div(new Scalar(scale)) : scores.mul(new Scalar(scale));
        scores = scores.masked_fill(allowed.bitwise_not(), new Scalar(lowest(scores.scalar_type().intern())));
        Tensor probs = scores.softmax(-1, new ScalarTypeOptional(ScalarType.Float)).to(q.scalar_type().intern());
        probs = dropout(probs, dropout);
        Tensor out = torch.matmul(probs, v).transpose(1, 2).contiguous();
        return out.reshape(out.size(0), out.size(1), -1);
    }

    /** {@code nn.functional.dropout(x, p, training=True)} where p > 0, else x itself. */
    static Tensor dropout(Tensor x, double p) {
        return p > 0 ? torch.dropout(x, p, true) : x;
    }

    /** {@code x[:, :, None].expand(b, kv, n, t, d).reshape(b, kv * n, t, d)}: each kv head serves n query heads. */
    static Tensor repeatKv(Tensor x, long n) {
        long b = x.size(0);
        long kv = x.size(1);
        long t = x.size(2);
        long d = x.size(3);
        return x.unsqueeze(2).expand(b, kv, n, t, d).reshape(b, kv * n, t, d);
    }

    /** {@code torch.finfo(dtype).min}. */
    static double lowest(ScalarType type) {
        return switch (type) {
            case Double -> -Double.MAX_VALUE;
            case Half -> -65504.0;
            case BFloat16 -> -3.3895313892515355e38;
            default -> -Float.MAX_VALUE;
        };
    }

    static TensorOptions longsOn(Device device) {
        return new TensorOptions(ScalarType.Long).device(new DeviceOptional(device));
    }

    static String shape(Tensor t) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < t.dim(); i++) {
            b.append(i == 0 ? "" : ", ").append(t.size(i));
        }
        return b.append(']').toString();
    }
}
