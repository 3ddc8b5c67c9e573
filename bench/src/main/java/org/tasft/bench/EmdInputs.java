package org.tasft.bench;

import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.kernel.EmdKernel;

/** The inputs both benchmarks and the memory probe use: fp32 logits [rows, vocab], unit embedding, targets. */
final class EmdInputs {
    final Tensor logits;        // the pristine values; each invocation starts from a copy
    final Tensor unitEmbedding;
    final Tensor targets;

    EmdInputs(int rows, int vocab, int dim, long seed) {
        torch.manual_seed(seed);
        TensorOptions f32 = new TensorOptions().dtype(new org.bytedeco.pytorch.ScalarTypeOptional(ScalarType.Float));
        // Logits of scale 3 give the peaked-but-not-one-hot distributions of a trained LM's head.
        logits = torch.randn(new long[] {rows, vocab}, f32).mul(new Scalar(3.0));
        unitEmbedding = EmdKernel.unitEmbedding(torch.randn(new long[] {vocab, dim}, f32));
        targets = torch.randint(vocab, new long[] {rows},
                new TensorOptions().dtype(new org.bytedeco.pytorch.ScalarTypeOptional(ScalarType.Long)));
    }
}
