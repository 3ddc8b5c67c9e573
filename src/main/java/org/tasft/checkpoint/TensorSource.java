package org.tasft.checkpoint;

import java.util.Set;

import org.bytedeco.pytorch.Tensor;

/**
 * The named tensors of a checkpoint (one safetensors file, or the shards of a sharded Hugging Face checkpoint),
 * read lazily: nothing is copied until {@link #load(String)} asks for a tensor.
 */
public interface TensorSource extends AutoCloseable {
    /** Every tensor name, in file order. */
    Set<String> names();

    /** Dtype, shape and file of a tensor; a {@link CheckpointException} naming the tensor if there is none. */
    TensorInfo info(String name);

    /**
     * A new CPU float32 tensor holding the named tensor's values (F32, F16 and BF16 are converted), owned by the
     * caller and independent of the file.
     */
    Tensor load(String name);

    /**
     * Copies the named tensor's values into {@code target} (same number of elements, contiguous, any floating dtype
     * and device), converting on the way. This default goes through {@link #load}'s float32 copy; the safetensors
     * sources copy from the file mapping directly, so a bfloat16 target never sees a float32 copy.
     */
    default void loadInto(String name, Tensor target) {
        Tensor t = load(name);
        try {
            target.copy_(t);
        } finally {
            t.close();
        }
    }

    /**
     * What error messages name as the checkpoint: the weights file ({@code model.safetensors}) or the sharded
     * checkpoint's index file.
     */
    default String location() {
        return "the checkpoint";
    }

    /** Releases the file mappings; tensors already loaded stay valid. */
    @Override
    void close();
}
