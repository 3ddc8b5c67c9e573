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
