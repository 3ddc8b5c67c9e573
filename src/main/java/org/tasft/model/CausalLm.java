package org.tasft.model;

import java.util.LinkedHashMap;

import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * A decoder-only language model built from a Hugging Face config (Llama family, Mistral, Qwen2, GPT-2) on LibTorch
 * modules, computing exactly what transformers computes for the same checkpoint.
 */
public interface CausalLm {
    /** The parsed config.json it was built from. */
    ModelConfig config();

    /**
     * Logits for every position.
     *
     * @param inputIds      int64 [batch, seq]
     * @param attentionMask int64 [batch, past + seq] with 1 for real tokens and 0 for padding (left padding in
     *                      batched generation), or null when every token is real. Position ids are derived from it
     *                      as transformers does (cumulative sum of the mask minus one).
     * @param cache         the key/value cache to read the past from and append this call's keys and values to, or
     *                      null for a full forward without a cache
     * @return [batch, seq, vocab] in the model's dtype (float32 unless it was placed in another {@link Precision})
     */
    Tensor forward(Tensor inputIds, Tensor attentionMask, KvCache cache);

    /** {@code forward(inputIds, null, null)}. */
    default Tensor forward(Tensor inputIds) {
        return forward(inputIds, null, null);
    }

    /**
     * The final hidden states, after the last norm and before the LM head: what a sequence-classification head
     * (transformers' {@code score}) reads. No cache.
     *
     * @param attentionMask as in {@link #forward(Tensor, Tensor, KvCache)}, or null
     * @return float32 [batch, seq, hidden]
     */
    default Tensor hiddenStates(Tensor inputIds, Tensor attentionMask) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not expose its hidden states");
    }

    /** Whether {@link #hiddenStates} is implemented (the fused LM head of training needs it). */
    default boolean exposesHiddenStates() {
        return false;
    }

    /**
     * Turns activation checkpointing per decoder layer on or off: a training forward then keeps only each layer's
     * input, and {@link #backwardCheckpointedLayers()} must follow the backward of every loss on its logits.
     */
    default void gradientCheckpointing(boolean on) {
        if (on) {
            throw new UnsupportedOperationException(getClass().getSimpleName() + " has no gradient checkpointing");
        }
    }

    default boolean gradientCheckpointing() {
        return false;
    }

    /**
     * With gradient checkpointing: recomputes the decoder layers of the training forwards since the last call and
     * back-propagates the gradient that the losses' backward left at their output into the layers' parameters and the
     * embedding. Nothing to do otherwise.
     */
    default void backwardCheckpointedLayers() {
    }

    /** An empty cache for this model. */
    KvCache newCache();

    /**
     * The parameters under their Hugging Face names, in the order transformers saves them. A tied LM head appears
     * once, under the input embedding's name, as transformers saves it.
     */
    LinkedHashMap<String, Tensor> stateDict();

    /** The input token-embedding matrix [vocab, hidden] (the TA-SFT embedding is its rows made unit-norm). */
    Tensor inputEmbeddingWeight();

    /** The LM head's weight [vocab, hidden] (the same tensor as the input embedding when tied). */
    Tensor lmHeadWeight();

    /**
     * The projections of the decoder layers (attention and MLP; not the LM head, which the forward applies to the
     * final hidden states directly) under their Hugging Face module paths, e.g. {@code model.layers.0.self_attn.q_proj}
     * or {@code transformer.h.0.attn.c_attn}: the layers adapters such as LoRA can target. None by default.
     */
    default LinkedHashMap<String, LinearLayer> linearLayers() {
        return new LinkedHashMap<>();
    }

    /** The root LibTorch module: parameters() for optimizers, train()/eval(), to(device). */
    Module module();
}
