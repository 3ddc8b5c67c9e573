package org.tasft.model;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Rotary position embeddings as transformers 5 computes them ({@code LlamaRotaryEmbedding} with
 * {@code modeling_rope_utils}): the inverse frequencies of each rope type in float32 with the same operations in the
 * same order (so the tables agree bit for bit on the same hardware), cos/sin from {@code inv_freq @ positions}, and
 * dynamic NTK scaling with transformers' state (the frequencies grow with the longest position seen and reset when
 * a short sequence comes again).
 *
 * <p>The frequencies live in a non-persistent buffer, {@code inv_freq}, so {@code module().to(device)} moves them.
 */
final class RotaryEmbedding extends Part {
    private final ModelConfig.Rope rope;
    private final int dim;
    private final int maxPositions;
    /** the frequencies transformers computes at construction (for dynamic: the unscaled ones) */
    private final Tensor originalInvFreq;
    private Tensor invFreq;
    private long maxSeqLenCached;

    RotaryEmbedding(ModelConfig config) {
        this.rope = config.rope();
        this.dim = config.headDim();
        this.maxPositions = config.maxPositionEmbeddings();
        this.maxSeqLenCached = maxPositions;
        try (NoGradGuard g = new NoGradGuard()) {
            this.originalInvFreq = buffer("inv_freq", inverseFrequencies(rope, dim, maxPositions));
        }
        this.invFreq = originalInvFreq;
    }

    /**
     * The inverse frequencies [dim / 2] (float32, CPU) for the rope settings at construction time (dynamic scaling:
     * at {@code seq_len = max_position_embeddings}, i.e. unscaled).
     */
    static Tensor inverseFrequencies(ModelConfig.Rope rope, int dim, int maxPositions) {
        return switch (rope.type()) {
            case DEFAULT -> base(rope.theta(), dim);
            case LINEAR -> base(rope.theta(), dim).div(new Scalar(rope.factor()));
            case DYNAMIC -> {
                // transformers evaluates the growth formula in Python floats at seq_len = max_position_embeddings
                double factor = rope.factor();
                double b = rope.theta() * Math.pow((factor * maxPositions / maxPositions) - (factor - 1),
                        dim / (double) (dim - 2));
                yield base(b, dim);
            }
            case LLAMA3 -> llama3(rope, dim);
        };
    }

    /** {@code 1.0 / (base ** (arange(0, dim, 2, int64).float() / dim))} */
    private static Tensor base(double theta, int dim) {
        return torch.reciprocal(torch.pow(new Scalar(theta), exponents(dim, null)));
    }

    private static Tensor exponents(int dim, org.bytedeco.pytorch.Device device) {
        TensorOptions longs = new TensorOptions(ScalarType.Long);
        if (device != null) {
            longs = longs.device(new org.bytedeco.pytorch.DeviceOptional(device));
        }
        return torch.arange(new Scalar(0), new Scalar(dim), new Scalar(2), longs).to(ScalarType.Float)
                .div(new Scalar(dim));
    }

    /** Llama 3.1's smoothing between unscaled high frequencies and low frequencies divided by the factor. */
    private static Tensor llama3(ModelConfig.Rope rope, int dim) {
        Tensor invFreq = base(rope.theta(), dim);
        double factor = rope.factor();
        double low = rope.lowFreqFactor();
        double high = rope.highFreqFactor();
        double oldContext = rope.originalMaxPositionEmbeddings();
        double lowFreqWavelen = oldContext / low;
        double highFreqWavelen = oldContext / high;
        // python's `scalar / tensor` is reciprocal(tensor) * scalar
        Tensor wavelen = torch.reciprocal(invFreq).mul(new Scalar(2 * Math.PI));
        Tensor scaled = torch.where(wavelen.gt(new Scalar(lowFreqWavelen)), invFreq.div(new Scalar(factor)), invFreq);
        Tensor smooth = torch.reciprocal(wavelen).mul(new Scalar(oldContext)).sub(new Scalar(low))
                .div(new Scalar(high - low));
        Tensor smoothed = torch.rsub(smooth, new Scalar(1)).mul(scaled).div(new Scalar(factor))
                .add(smooth.mul(scaled));
        Tensor medium = wavelen.lt(new Scalar(highFreqWavelen)).bitwise_not()
                .bitwise_and(wavelen.gt(new Scalar(lowFreqWavelen)).bitwise_not());
        return torch.where(medium, smoothed, scaled);
    }

    /**
     * cos and sin [batch, seq, dim] for int64 positions [batch, seq], on the positions' device, computed in float32
     * and returned in {@code dtype} (the hidden states' dtype, as transformers returns them).
     */
    Tensor[] cosSin(Tensor positionIds, ScalarType dtype) {
        try (NoGradGuard g = new NoGradGuard()) {
            if (rope.type() == ModelConfig.RopeType.DYNAMIC) {
                dynamicUpdate(positionIds);
            }
            Tensor freqTable = invFreq.to(positionIds.device(), ScalarType.Float);
            long batch = positionIds.size(0);
            Tensor inv = freqTable.view(1, -1, 1).expand(batch, -1, 1);
            Tensor pos = positionIds.unsqueeze(1).to(ScalarType.Float);
            Tensor freqs = torch.matmul(inv, pos).transpose(1, 2);
            Tensor emb = torch.cat(new TensorVector(freqs, freqs), -1);
            return new Tensor[] {emb.cos().to(dtype), emb.sin().to(dtype)};
        }
    }

    /** transformers' {@code dynamic_frequency_update}, with its state. */
    private void dynamicUpdate(Tensor positionIds) {
        long seqLen = positionIds.max().item_long() + 1;
        long cachedBefore = maxSeqLenCached;
        if (seqLen > cachedBefore) {
            invFreq = dynamicFrequencies(seqLen, positionIds.device());
            maxSeqLenCached = seqLen;
        }
        if (seqLen < maxPositions && cachedBefore > maxPositions) {
            invFreq = originalInvFreq;
            maxSeqLenCached = maxPositions;
        }
    }

    /**
     * {@code _compute_dynamic_ntk_parameters} with a tensor seq_len, evaluated in float32 tensors as transformers does:
     * {@code base = theta * ((factor * seq / max) - (factor - 1)) ** (dim / (dim - 2))}.
     */
    Tensor dynamicFrequencies(long seqLen, org.bytedeco.pytorch.Device device) {
        TensorOptions longs = CausalAttention.longsOn(device);
        Tensor seq = torch.maximum(torch.scalar_tensor(new Scalar(seqLen), longs),
                torch.scalar_tensor(new Scalar((long) maxPositions), longs));
        double factor = rope.factor();
        Tensor b = seq.mul(new Scalar(factor)).div(new Scalar((long) maxPositions)).sub(new Scalar(factor - 1))
                .pow(new Scalar(dim / (double) (dim - 2))).mul(new Scalar(rope.theta()));
        return torch.reciprocal(torch.pow(b, exponents(dim, device)));
    }

    /** The frequencies in use now (dynamic scaling changes them with the sequence length). */
    Tensor currentInverseFrequencies() {
        return invFreq;
    }

    /** {@code q * cos + rotate_half(q) * sin} for q [batch, heads, seq, dim] and cos/sin [batch, seq, dim]. */
    static Tensor apply(Tensor x, Tensor cos, Tensor sin) {
        return x.mul(cos.unsqueeze(1)).add(rotateHalf(x).mul(sin.unsqueeze(1)));
    }

    private static Tensor rotateHalf(Tensor x) {
        long half = x.size(-1) / 2;
        Tensor x1 = x.narrow(-1, 0, half);
        Tensor x2 = x.narrow(-1, half, half);
        return torch.cat(new TensorVector(x2.neg(), x1), -1);
    }
}
