package org.tasft.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * transformers' {@code DynamicCache}: per layer, the keys and values [batch, kvHeads, length, headDim] of every
 * position seen so far (after the rotary embedding, before heads are repeated for grouped-query attention), grown by
 * concatenation along the sequence. Sliding-window layers keep everything too; the attention mask limits what they
 * see, so the logits are those of transformers.
 *
 * <p>The cache outlives the {@link org.bytedeco.javacpp.PointerScope} of the step that made its tensors (the
 * generator closes one per step to free that step's temporaries at once): it holds one reference of its own on each
 * tensor, taken when the tensor is stored and given back when it is replaced or cleared, so a replaced key tensor is
 * freed at that moment rather than when the garbage collector runs.
 */
public final class DynamicKvCache implements KvCache {
    private final CausalLm owner;
    private final Tensor[] keys;
    private final Tensor[] values;
    private long length;

    DynamicKvCache(CausalLm owner, int layers) {
        this.owner = owner;
        this.keys = new Tensor[layers];
        this.values = new Tensor[layers];
    }

    /** The cache itself, after checking that {@code model} made it (another model's keys would be garbage here). */
    static DynamicKvCache of(KvCache cache, CausalLm model) {
        if (!(cache instanceof DynamicKvCache kv) || kv.owner != model) {
            throw new IllegalArgumentException("this cache was not made by this model's newCache()");
        }
        return kv;
    }

    @Override
    public long length() {
        return length;
    }

    @Override
    public void clear() {
        for (int i = 0; i < keys.length; i++) {
            keys[i] = replace(keys[i], null);
            values[i] = replace(values[i], null);
        }
        length = 0;
    }

    /** Number of layers the cache holds. */
    public int layers() {
        return keys.length;
    }

    /** The cached keys of a layer [batch, kvHeads, length, headDim], or null while empty. */
    public Tensor keys(int layer) {
        return keys[layer];
    }

    /** The cached values of a layer [batch, kvHeads, length, headDim], or null while empty. */
    public Tensor values(int layer) {
        return values[layer];
    }

    /** Batch size of the cached sequences, or -1 while empty. */
    public long batchSize() {
        return keys[0] == null ? -1 : keys[0].size(0);
    }

    /**
     * Keeps only the given sequences of the batch (int64 indices on the cache's device), e.g. to drop finished
     * sequences during generation; the attention mask passed next must be selected the same way.
     */
    public void selectBatch(Tensor batchIndices) {
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != null) {
                keys[i] = replace(keys[i], keys[i].index_select(0, batchIndices));
                values[i] = replace(values[i], values[i].index_select(0, batchIndices));
            }
        }
    }

    /** Appends one layer's new keys and values and returns everything cached for that layer. */
    Tensor[] append(int layer, Tensor k, Tensor v) {
        if (keys[layer] == null) {
            keys[layer] = replace(null, k);
            values[layer] = replace(null, v);
        } else {
            keys[layer] = replace(keys[layer], torch.cat(new TensorVector(keys[layer], k), 2));
            values[layer] = replace(values[layer], torch.cat(new TensorVector(values[layer], v), 2));
        }
        return new Tensor[] {keys[layer], values[layer]};
    }

    /**
     * Takes the cache's reference on {@code next} and gives back its reference on {@code previous} (freeing it when
     * no scope or other holder keeps it); returns {@code next}.
     */
    private static Tensor replace(Tensor previous, Tensor next) {
        if (next != null) {
            next.retainReference();
        }
        if (previous != null) {
            previous.releaseReference();
        }
        return next;
    }

    /** Called once per forward, after every layer appended {@code seq} positions. */
    void advance(long seq) {
        length += seq;
    }
}
