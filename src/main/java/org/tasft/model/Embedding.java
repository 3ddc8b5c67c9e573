package org.tasft.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * {@code nn.Embedding}: weight [num, dim]. {@code paddingIdx} (or -1) is the row whose gradient is kept at zero, as
 * transformers' Llama-family models build their token embedding with {@code padding_idx = pad_token_id}.
 */
final class Embedding extends Part {
    final Tensor weight;
    private final long paddingIdx;

    Embedding(long num, long dim, long paddingIdx) {
        this.weight = parameter("weight", torch.empty(num, dim));
        this.paddingIdx = paddingIdx;
    }

    Tensor forward(Tensor ids) {
        return torch.embedding(weight, ids, paddingIdx, false, false);
    }
}
