package org.tasft.generate;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.model.NonFiniteException;
import org.tasft.model.CausalLm;
import org.tasft.model.HostTensors;
import org.tasft.model.ModelConfig;

/**
 * How likely a model finds a token sequence: the log-probability of every token given the ones before it.
 *
 * <p>One full forward pass without a cache, in eval mode; {@code log_softmax} in float32 as the model's logits are,
 * the mean negative log-likelihood summed in float64.
 */
public final class Scorer {
    /**
     * @param ids      the scored sequence
     * @param logprobs {@code logprobs[t - 1] = log p(ids[t] | ids[0..t))} for t = 1 .. n-1
     * @param meanNll  {@code -mean(logprobs)}
     */
    public record Score(long[] ids, double[] logprobs, double meanNll) {
    }

    private final CausalLm model;

    public Scorer(CausalLm model) {
        this.model = model;
    }

    /** Scores a sequence of at least two tokens, all inside the model's vocabulary. */
    public Score score(long[] ids) {
        ModelConfig config = model.config();
        if (ids.length < 2) {
            throw new IllegalArgumentException("scoring needs at least 2 tokens, got " + ids.length);
        }
        if (ids.length > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException(ids.length + " tokens exceed the model's max_position_embeddings "
                    + config.maxPositionEmbeddings());
        }
        for (int t = 0; t < ids.length; t++) {
            if (ids[t] < 0 || ids[t] >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + ids[t] + " at position " + t
                        + " is outside the model's vocabulary [0, " + config.vocabSize() + ")");
            }
        }
        int n = ids.length;
        Module module = model.module();
        boolean wasTraining = module.is_training();
        Device device = model.inputEmbeddingWeight().device();
        module.eval();
        float[] gathered;
        try (NoGradGuard noGrad = new NoGradGuard()) {
            Tensor input = HostTensors.longs(ids, 1, n, device);
            Tensor logits = model.forward(input, null, null);
            NonFiniteException.checkLogits(logits, model, "scoring " + n + " tokens");
            // Position t - 1 predicts token t.
            Tensor logp = logits.select(0, 0).narrow(0, 0, n - 1).to(ScalarType.Float).log_softmax(-1);
            Tensor targets = input.select(0, 0).narrow(0, 1, n - 1).unsqueeze(1);
            gathered = HostTensors.floats(logp.gather(1, targets));
            logits.close();
            logp.close();
        } finally {
            module.train(wasTraining);
        }
        double[] logprobs = new double[n - 1];
        double sum = 0;
        for (int i = 0; i < n - 1; i++) {
            logprobs[i] = gathered[i];
            sum += gathered[i];
        }
        return new Score(ids.clone(), logprobs, -sum / (n - 1));
    }
}
