package org.tasft.checkpoint;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * One tensor's entry in a safetensors header.
 *
 * @param name   the tensor name (Hugging Face naming, e.g. {@code model.layers.0.self_attn.q_proj.weight})
 * @param dtype  the safetensors dtype string: {@code F32}, {@code F16}, {@code BF16} (others are refused on load)
 * @param shape  the shape
 * @param file   the file holding it
 */
public record TensorInfo(String name, String dtype, long[] shape, Path file) {
    public long numel() {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        return n;
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " in " + file;
    }
}
