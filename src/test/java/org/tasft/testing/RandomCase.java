package org.tasft.testing;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.kernel.EmdKernel;

/**
 * Seeded random inputs of the EMD kernel: logits [rows, vocab] (float32, scaled), a unit embedding [vocab, dim]
 * (float32) and int64 targets with a fraction of ignored rows.
 */
public record RandomCase(Tensor logits, Tensor unitEmbedding, Tensor targets) {
    public static final long IGNORE = -100;

    public static RandomCase of(long seed, long rows, long vocab, long dim, double logitScale,
            double ignoreFraction) {
        torch.manual_seed(seed);
        Tensor logits = torch.randn(new long[] {rows, vocab}, new TensorOptions(ScalarType.Float))
                .mul(new Scalar(logitScale));
        Tensor unit = EmdKernel.unitEmbedding(torch.randn(new long[] {vocab, dim},
                new TensorOptions(ScalarType.Float)));
        Tensor targets = torch.randint(vocab, new long[] {rows}, new TensorOptions(ScalarType.Long));
        if (ignoreFraction > 0) {
            Tensor drop = torch.rand(new long[] {rows}, new TensorOptions(ScalarType.Float))
                    .lt(new Scalar(ignoreFraction));
            targets = targets.masked_fill(drop, new Scalar(IGNORE));
        }
        return new RandomCase(logits, unit, targets);
    }

    public long rows() {
        return logits.size(0);
    }

    public long vocab() {
        return logits.size(1);
    }

    public long dim() {
        return unitEmbedding.size(1);
    }
}
