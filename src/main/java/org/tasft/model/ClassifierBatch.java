package org.tasft.model;

import java.util.List;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A right-padded batch of classifier inputs as int64 tensors: ids, token types and the attention mask (1 on real
 * tokens). Right padding keeps every real token at its unpadded position, so models whose position ids default to
 * {@code arange} (transformers' classifiers) see exactly what they see for one sequence alone.
 */
final class ClassifierBatch {
    final int batch;
    final int width;
    final int[] lengths;
    final Tensor ids;
    final Tensor typeIds;
    final Tensor mask;

    ClassifierBatch(List<SequenceClassifier.Input> inputs, long padId, int maxLength, Device device) {
        batch = inputs.size();
        lengths = new int[batch];
        int w = 0;
        for (int b = 0; b < batch; b++) {
            int n = inputs.get(b).ids().length;
            if (n > maxLength) {
                throw new IllegalArgumentException("classifier input " + b + " has " + n
                        + " tokens, more than the model's " + maxLength);
            }
            lengths[b] = n;
            w = Math.max(w, n);
        }
        width = w;
        long[] idValues = new long[batch * width];
        long[] typeValues = new long[batch * width];
        long[] maskValues = new long[batch * width];
        java.util.Arrays.fill(idValues, padId);
        for (int b = 0; b < batch; b++) {
            SequenceClassifier.Input in = inputs.get(b);
            System.arraycopy(in.ids(), 0, idValues, b * width, lengths[b]);
            if (in.typeIds() != null) {
                System.arraycopy(in.typeIds(), 0, typeValues, b * width, lengths[b]);
            }
            java.util.Arrays.fill(maskValues, b * width, b * width + lengths[b], 1L);
        }
        ids = HostTensors.longs(idValues, batch, width, device);
        typeIds = HostTensors.longs(typeValues, batch, width, device);
        mask = HostTensors.longs(maskValues, batch, width, device);
    }

    /** Ids inside [0, vocab); token types inside [0, typeVocab) where the model has token types (typeVocab > 0). */
    void checkVocabulary(List<SequenceClassifier.Input> inputs, long vocab, long typeVocab) {
        for (int b = 0; b < inputs.size(); b++) {
            SequenceClassifier.Input in = inputs.get(b);
            for (long id : in.ids()) {
                if (id < 0 || id >= vocab) {
                    throw new IllegalArgumentException("classifier input " + b + ": token id " + id
                            + " is outside the model's vocabulary [0, " + vocab + ")");
                }
            }
            // models without token type embeddings ignore the types, as transformers does
            if (in.typeIds() != null && typeVocab > 0) {
                for (long t : in.typeIds()) {
                    if (t < 0 || t >= typeVocab) {
                        throw new IllegalArgumentException("classifier input " + b + ": token type " + t
                                + " is outside [0, " + typeVocab + ")");
                    }
                }
            }
        }
    }

    /** A float tensor [rows, columns] as Java rows. */
    static float[][] rows(Tensor t) {
        Tensor f = (t.is_cpu() ? t : t.cpu()).to(ScalarType.Float).contiguous();
        int rows = Math.toIntExact(f.size(0));
        int cols = Math.toIntExact(f.size(1));
        float[] flat = new float[rows * cols];
        if (flat.length > 0) {
            f.data_ptr_float().get(flat);
        }
        float[][] out = new float[rows][cols];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(flat, r * cols, out[r], 0, cols);
        }
        return out;
    }
}
