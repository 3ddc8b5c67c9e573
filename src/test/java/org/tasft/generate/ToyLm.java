package org.tasft.generate;

import java.util.LinkedHashMap;
import java.util.Random;

import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.model.CausalLm;
import org.tasft.model.KvCache;
import org.tasft.model.ModelConfig;

/**
 * A stand-in language model in plain Java for the generator's bookkeeping: the hidden state at a position is the
 * position-weighted mean of the embeddings of every real token up to it, so a wrong token, mask, position or cache
 * entry changes the logits. Its cache keeps the running sums per sequence.
 */
final class ToyLm implements CausalLm {
    static final int VOCAB = 50;
    private static final int DIM = 8;

    private final ModelConfig config = ModelConfig.parse("{\"model_type\": \"llama\", \"vocab_size\": " + VOCAB
            + ", \"hidden_size\": " + DIM + ", \"intermediate_size\": 16, \"num_hidden_layers\": 1,"
            + " \"num_attention_heads\": 2, \"max_position_embeddings\": 64, \"bos_token_id\": 0,"
            + " \"eos_token_id\": 1, \"pad_token_id\": 2}");
    private final float[][] embedding = new float[VOCAB][DIM];
    private final float[][] head = new float[VOCAB][DIM];
    private final Module module = new Module();
    int forwardCalls;

    ToyLm(long seed) {
        Random r = new Random(seed);
        for (int v = 0; v < VOCAB; v++) {
            for (int d = 0; d < DIM; d++) {
                embedding[v][d] = (float) r.nextGaussian();
                head[v][d] = (float) r.nextGaussian();
            }
        }
    }

    final class Cache implements KvCache {
        double[][] sums;
        long[] counts;
        long length;

        @Override
        public long length() {
            return length;
        }

        @Override
        public void clear() {
            sums = null;
            counts = null;
            length = 0;
        }
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public Tensor forward(Tensor inputIds, Tensor attentionMask, KvCache kv) {
        forwardCalls++;
        int batch = (int) inputIds.size(0);
        int seq = (int) inputIds.size(1);
        Cache cache = (Cache) kv;
        long past = cache == null ? 0 : cache.length;
        long[] ids = longs(inputIds);
        long[] mask = attentionMask == null ? null : longs(attentionMask);
        int width = (int) (past + seq);
        if (mask != null && mask.length != batch * width) {
            throw new IllegalArgumentException("mask has " + mask.length / batch + " columns, expected " + width);
        }
        if (cache != null && cache.sums == null) {
            cache.sums = new double[batch][DIM];
            cache.counts = new long[batch];
        }
        float[] out = new float[batch * seq * VOCAB];
        for (int b = 0; b < batch; b++) {
            double[] sum = cache == null ? new double[DIM] : cache.sums[b];
            long count = cache == null ? 0 : cache.counts[b];
            long position = -1;
            for (int c = 0; c < past; c++) {
                position += mask == null ? 1 : mask[b * width + c];
            }
            for (int t = 0; t < seq; t++) {
                boolean real = mask == null || mask[(int) (b * width + past + t)] == 1;
                if (real) {
                    position++;
                    // as a model with learned positions (GPT-2): none past the context
                    if (position >= config.maxPositionEmbeddings()) {
                        throw new IllegalArgumentException("position " + position + " is past the context of "
                                + config.maxPositionEmbeddings());
                    }
                    double w = 1.5 + Math.cos(0.7 * position);
                    int token = (int) ids[b * seq + t];
                    for (int d = 0; d < DIM; d++) {
                        sum[d] += w * embedding[token][d];
                    }
                    count++;
                }
                for (int v = 0; v < VOCAB; v++) {
                    double z = 0;
                    for (int d = 0; d < DIM; d++) {
                        z += head[v][d] * sum[d];
                    }
                    out[(b * seq + t) * VOCAB + v] = (float) (4 * z / Math.max(count, 1));
                }
            }
            if (cache != null) {
                cache.counts[b] = count;
            }
        }
        if (cache != null) {
            cache.length += seq;
        }
        Tensor logits = torch.empty(new long[] {batch, seq, VOCAB}, new TensorOptions(ScalarType.Float),
                new MemoryFormatOptional());
        logits.data_ptr_float().put(out);
        return logits;
    }

    private static long[] longs(Tensor t) {
        Tensor c = t.contiguous();
        long[] v = new long[(int) c.numel()];
        c.data_ptr_long().get(v);
        return v;
    }

    @Override
    public KvCache newCache() {
        return new Cache();
    }

    @Override
    public LinkedHashMap<String, Tensor> stateDict() {
        return new LinkedHashMap<>();
    }

    @Override
    public Tensor inputEmbeddingWeight() {
        return torch.zeros(new long[] {VOCAB, DIM}, new TensorOptions(ScalarType.Float));
    }

    @Override
    public Tensor lmHeadWeight() {
        return inputEmbeddingWeight();
    }

    @Override
    public Module module() {
        return module;
    }
}
