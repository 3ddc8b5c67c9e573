package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tasft.data.Batch;
import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.model.CausalLm;
import org.tasft.train.TaSft.EmbeddingSource;

/**
 * Every objective on a batch split over two "ranks" (in one process: each shard's step gets the whole batch's counts
 * through {@link ShardTotals}, recorded in a first pass) gives, averaged over the shards, the whole batch's loss
 * values and gradients. The shards hold different numbers of safe/harmful sequences and tokens (one shard may have
 * no harmful sequence at all), so an objective that normalised by its shard's own counts would fail.
 */
class ShardTotalsTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"emd", "emd-token", "sft", "nlcl", "ga", "kto"})
    void twoShardsAveragedEqualTheWholeBatch(String method) {
        for (boolean[] harmful : List.of(new boolean[] {false, true, true, false},
                new boolean[] {false, true, false, true})) {
            Batch whole = TrainTesting.batch(21, harmful);
            CausalLm reference = TrainTesting.model();
            StepLoss all = objective(method).step(reference, whole);
            Map<String, Tensor> expected = TrainTesting.grads(reference);

            List<Batch> shards = List.of(rows(whole, 0, 2), rows(whole, 1, 3)); // positions r, r + W
            // Pass 1: each shard's local counts (what the all-reduce would sum).
            List<double[]> local = new ArrayList<>();
            for (Batch shard : shards) {
                objective(method).step(TrainTesting.model(), shard, v -> {
                    local.add(v.clone());
                    return v.clone();
                });
            }
            double[] mean = new double[local.get(0).length];
            for (double[] v : local) {
                for (int i = 0; i < v.length; i++) {
                    mean[i] += v[i] / shards.size();
                }
            }
            // Pass 2: each shard with the whole batch's counts; gradients and values averaged over the shards.
            CausalLm model = TrainTesting.model();
            double total = 0, sft = 0, term = 0;
            for (Batch shard : shards) {
                StepLoss l = objective(method).step(model, shard, v -> mean.clone());
                total += l.total() / shards.size();
                sft += l.sft() / shards.size();
                term += l.term() / shards.size();
            }
            Map<String, Tensor> actual = TrainTesting.grads(model);
            actual.replaceAll((k, g) -> g.div(new Scalar((double) shards.size())));
            String what = method + " " + java.util.Arrays.toString(harmful);
            assertEquals(all.total(), total, 1e-5 * Math.max(1, Math.abs(all.total())), what + " total");
            assertEquals(all.sft(), sft, 1e-5 * Math.max(1, Math.abs(all.sft())), what + " sft");
            assertEquals(all.term(), term, 1e-5 * Math.max(1, Math.abs(all.term())), what + " term");
            TrainTesting.assertGradsClose(actual, expected, 1e-4, what);
        }
    }

    private static Objective objective(String method) {
        if (method.startsWith("emd")) {
            return new TaSft(0.5, method.equals("emd") ? Reduction.SEQUENCE : Reduction.TOKEN,
                    EmbeddingSource.INPUT);
        }
        return BaselinesTest.objective(method);
    }

    /** The batch's rows a and b. */
    private static Batch rows(Batch batch, long a, long b) {
        Tensor idx = torch.empty(new long[] {2}, new TensorOptions(torch.ScalarType.Long),
                new org.bytedeco.pytorch.MemoryFormatOptional());
        idx.data_ptr_long().put(new long[] {a, b});
        boolean[] h = {batch.harmful()[(int) a], batch.harmful()[(int) b]};
        return new Batch(batch.inputIds().index_select(0, idx), batch.labels().index_select(0, idx),
                batch.attentionMask().index_select(0, idx), h);
    }
}
