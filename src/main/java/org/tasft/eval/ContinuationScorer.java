package org.tasft.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.model.NonFiniteException;
import org.tasft.model.CausalLm;
import org.tasft.model.HostTensors;

/**
 * Log-likelihoods of continuations given contexts, {@code sum_t log p(cont_t | context, cont_<t)}, for
 * multiple-choice scoring; batched with right padding (real tokens keep their positions), in eval mode. The
 * single-sequence {@link org.tasft.generate.Scorer} is the oracle of its test.
 */
final class ContinuationScorer {
    private final CausalLm model;

    ContinuationScorer(CausalLm model) {
        this.model = model;
    }

    /** One value per (context, continuation); contexts non-empty, continuations non-empty. */
    double[] logLikelihoods(List<long[]> contexts, List<long[]> continuations, int batchSize) {
        int n = contexts.size();
        double[] out = new double[n];
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
            if (contexts.get(i).length == 0 || continuations.get(i).length == 0) {
                throw new IllegalArgumentException("item " + i + ": empty context or continuation");
            }
        }
        Arrays.sort(order, (a, b) -> Integer.compare(contexts.get(a).length + continuations.get(a).length,
                contexts.get(b).length + continuations.get(b).length));
        Module module = model.module();
        boolean wasTraining = module.is_training();
        module.eval();
        try (NoGradGuard g = new NoGradGuard()) {
            for (int start = 0; start < n; start += batchSize) {
                List<Integer> batch = new ArrayList<>();
                for (int k = start; k < Math.min(n, start + batchSize); k++) {
                    batch.add(order[k]);
                }
                double[] values;
                try (PointerScope scope = new PointerScope()) {
                    values = batch(batch, contexts, continuations);
                }
                for (int k = 0; k < batch.size(); k++) {
                    out[batch.get(k)] = values[k];
                }
            }
        } finally {
            module.train(wasTraining);
        }
        return out;
    }

    private double[] batch(List<Integer> items, List<long[]> contexts, List<long[]> continuations) {
        int b = items.size();
        int width = 0;
        for (int i : items) {
            width = Math.max(width, contexts.get(i).length + continuations.get(i).length);
        }
        if (width > model.config().maxPositionEmbeddings()) {
            throw new IllegalArgumentException(width + " tokens exceed the model's max_position_embeddings "
                    + model.config().maxPositionEmbeddings());
        }
        long pad = model.config().padTokenId().isPresent() ? model.config().padTokenId().getAsInt() : 0;
        long[] ids = new long[b * width];
        long[] mask = new long[b * width];
        Arrays.fill(ids, pad);
        for (int r = 0; r < b; r++) {
            long[] c = contexts.get(items.get(r));
            long[] x = continuations.get(items.get(r));
            System.arraycopy(c, 0, ids, r * width, c.length);
            System.arraycopy(x, 0, ids, r * width + c.length, x.length);
            Arrays.fill(mask, r * width, r * width + c.length + x.length, 1L);
        }
        Device device = model.inputEmbeddingWeight().device();
        Tensor input = HostTensors.longs(ids, b, width, device);
        Tensor attention = HostTensors.longs(mask, b, width, device);
        Tensor logits = model.forward(input, attention, null);
        NonFiniteException.checkLogits(logits, model, "scoring continuations (BoolQ)");
        double[] out = new double[b];
        for (int r = 0; r < b; r++) {
            long[] c = contexts.get(items.get(r));
            long[] x = continuations.get(items.get(r));
            // positions c.length - 1 .. c.length + x.length - 2 predict the continuation's tokens
            Tensor rows = logits.select(0, r).narrow(0, c.length - 1, x.length).to(ScalarType.Float).log_softmax(-1);
            Tensor targets = HostTensors.longs(x, x.length, 1, rows.device());
            Tensor picked = rows.gather(1, targets).to(ScalarType.Double).cpu().contiguous();
            double[] lp = new double[x.length];
            picked.data_ptr_double().get(lp);
            double sum = 0;
            for (double v : lp) {
                sum += v;
            }
            out[r] = sum;
        }
        logits.close();
        return out;
    }
}
