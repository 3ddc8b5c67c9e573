package org.tasft.model;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.UnaryOperator;

import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.checkpoint.CheckpointException;
import org.tasft.checkpoint.Checkpoints;
import org.tasft.checkpoint.TensorSource;

/**
 * {@code DebertaV2ForSequenceClassification} (DeBERTa-v2 and v3, e.g. OpenAssistant's reward-model-deberta-v3-large-v2)
 * for inference, as transformers computes it in eval mode (float32, no dropout).
 *
 * <p>Embeddings: word (+ absolute positions when {@code position_biased_input}, + token types when
 * {@code type_vocab_size > 0}), projected when {@code embedding_size != hidden_size}, LayerNorm, times the mask.
 * Each layer: disentangled self-attention, {@code (q k^T + c2p + p2c) / sqrt(d * (1 + #pos_att_type))} where, for
 * query i and key j with {@code r = clamp(bucket(i - j) + span, 0, 2 span - 1)}, {@code c2p = q_i . Kr[r]} and
 * {@code p2c = k_j . Qr[r]}; Kr and Qr are the (LayerNorm-ed, with {@code norm_rel_ebd = layer_norm}) relative
 * embeddings through the key and query projections ({@code share_att_key}) or through {@code pos_key_proj} /
 * {@code pos_query_proj}. {@code bucket} is transformers' log bucketing when {@code position_buckets > 0}, computed in
 * float32 as PyTorch does. Scores are masked where query or key is padding (softmax, then zeroed), then the output
 * dense + LayerNorm with the residual, the intermediate dense + activation, the output dense + LayerNorm. The pooler
 * reads the first token: {@code act(dense(h[:, 0]))}; the classifier is a Linear to num_labels.
 *
 * <p>Not supported (an error at load): {@code conv_kernel_size > 0} (the convolution of deberta-v2-xlarge) and
 * {@code z_steps}.
 */
final class DebertaV2Classifier implements SequenceClassifier {
    /** The config values the forward uses, with DebertaV2Config's defaults where a key is absent. */
    record Config(int vocabSize, int hiddenSize, int numLayers, int numHeads, int headSize, int intermediateSize,
            String hiddenAct, int maxPositionEmbeddings, int typeVocabSize, double layerNormEps,
            boolean relativeAttention, int maxRelativePositions, int positionBuckets, boolean positionBiasedInput,
            List<String> posAttType, boolean shareAttKey, boolean normRelEmbedding, int embeddingSize,
            int poolerHiddenSize, String poolerHiddenAct, int padTokenId) {

        static Config parse(JsonNode j, String source) {
            int hidden = requiredInt(j, "hidden_size", source);
            int heads = requiredInt(j, "num_attention_heads", source);
            if (j.path("conv_kernel_size").asInt(0) > 0) {
                throw new IllegalArgumentException(source + ": conv_kernel_size " + j.get("conv_kernel_size")
                        + " (DeBERTa-v2's convolution layer) is not supported");
            }
            int headSize = j.path("attention_head_size").asInt(hidden / Math.max(heads, 1));
            if (!j.has("attention_head_size") && hidden % heads != 0) {
                throw new IllegalArgumentException(source + ": hidden_size " + hidden
                        + " is not a multiple of num_attention_heads " + heads);
            }
            List<String> pos = new ArrayList<>();
            JsonNode p = j.get("pos_att_type");
            if (p != null && p.isArray()) {
                p.forEach(x -> pos.add(x.asText().strip().toLowerCase(Locale.ROOT)));
            } else if (p != null && p.isTextual()) {
                for (String x : p.asText().toLowerCase(Locale.ROOT).split("\\|")) {
                    if (!x.isBlank()) {
                        pos.add(x.strip());
                    }
                }
            }
            for (String x : pos) {
                if (!x.equals("c2p") && !x.equals("p2c")) {
                    throw new IllegalArgumentException(source + ": pos_att_type '" + x + "' is not c2p or p2c");
                }
            }
            List<String> norms = new ArrayList<>();
            for (String x : j.path("norm_rel_ebd").asText("none").toLowerCase(Locale.ROOT).split("\\|")) {
                norms.add(x.strip());
            }
            int maxPos = j.path("max_position_embeddings").asInt(512);
            int maxRel = j.path("max_relative_positions").asInt(-1);
            String act = j.path("hidden_act").asText("gelu");
            Activations.byName(act, source);
            String poolerAct = j.path("pooler_hidden_act").asText("gelu");
            Activations.byName(poolerAct, source);
            Config c = new Config(requiredInt(j, "vocab_size", source), hidden,
                    requiredInt(j, "num_hidden_layers", source), heads, headSize,
                    requiredInt(j, "intermediate_size", source), act, maxPos, j.path("type_vocab_size").asInt(0),
                    j.path("layer_norm_eps").asDouble(1e-7), j.path("relative_attention").asBoolean(false),
                    maxRel < 1 ? maxPos : maxRel, j.path("position_buckets").asInt(-1),
                    j.path("position_biased_input").asBoolean(true), List.copyOf(pos),
                    j.path("share_att_key").asBoolean(false), norms.contains("layer_norm"),
                    j.path("embedding_size").asInt(hidden), j.path("pooler_hidden_size").asInt(hidden), poolerAct,
                    j.path("pad_token_id").asInt(0));
            if (c.poolerHiddenSize != hidden) {
                // ContextPooler's output_dim is hidden_size: transformers builds a classifier that cannot run
                throw new IllegalArgumentException(source + ": pooler_hidden_size " + c.poolerHiddenSize
                        + " differs from hidden_size " + hidden);
            }
            return c;
        }

        private static int requiredInt(JsonNode j, String key, String source) {
            JsonNode n = j.get(key);
            if (n == null || !n.canConvertToInt() || n.asInt() < 1) {
                throw new IllegalArgumentException(source + ": " + key + " must be a positive integer, got " + n);
            }
            return n.asInt();
        }

        /** Relative positions attended over on each side: position_buckets, else max_relative_positions. */
        int span() {
            return positionBuckets > 0 ? positionBuckets : maxRelativePositions;
        }
    }

    private final Config config;
    private final List<String> labels;
    private final Map<String, Tensor> w;
    private final UnaryOperator<Tensor> act;
    private final UnaryOperator<Tensor> poolerAct;

    DebertaV2Classifier(Config config, List<String> labels, Map<String, Tensor> weights, String source) {
        this.config = config;
        this.labels = List.copyOf(labels);
        this.w = weights;
        this.act = Activations.byName(config.hiddenAct(), source);
        this.poolerAct = Activations.byName(config.poolerHiddenAct(), source);
    }

    static DebertaV2Classifier load(Path dir, JsonNode json, String source) {
        Config config = Config.parse(json, source);
        List<String> labels = SequenceClassifiers.labels(json, source);
        Map<String, long[]> expected = expectedShapes(config, labels.size());
        Map<String, Tensor> weights = new LinkedHashMap<>();
        try (TensorSource src = Checkpoints.open(dir)) {
            Map<String, String> byName = new LinkedHashMap<>();
            List<String> unexpected = new ArrayList<>();
            for (String name : src.names()) {
                String canonical = canonicalName(name);
                if (expected.containsKey(canonical)) {
                    byName.put(canonical, name);
                } else if (!ignorable(canonical)) {
                    unexpected.add(name);
                }
            }
            List<String> missing = new ArrayList<>();
            for (String name : expected.keySet()) {
                if (!byName.containsKey(name)) {
                    missing.add(name);
                }
            }
            if (!missing.isEmpty()) {
                throw new CheckpointException(dir + ": the checkpoint lacks " + missing.size() + " of the "
                        + expected.size() + " tensors of this DeBERTa-v2 classifier: " + firstFew(missing));
            }
            if (!unexpected.isEmpty()) {
                throw new CheckpointException(dir + ": the checkpoint has " + unexpected.size()
                        + " tensors this DeBERTa-v2 classifier does not use: " + firstFew(unexpected));
            }
            for (Map.Entry<String, long[]> e : expected.entrySet()) {
                String file = byName.get(e.getKey());
                long[] shape = src.info(file).shape();
                if (!Arrays.equals(shape, e.getValue())) {
                    throw new CheckpointException(dir + ": tensor " + file + " has shape " + Arrays.toString(shape)
                            + ", the config says " + Arrays.toString(e.getValue()));
                }
                weights.put(e.getKey(), src.load(file));
            }
        }
        return new DebertaV2Classifier(config, labels, weights, source);
    }

    /** transformers renames the old LayerNorm parameter names gamma/beta on load. */
    private static String canonicalName(String name) {
        if (name.endsWith(".gamma")) {
            return name.substring(0, name.length() - ".gamma".length()) + ".weight";
        }
        if (name.endsWith(".beta")) {
            return name.substring(0, name.length() - ".beta".length()) + ".bias";
        }
        return name;
    }

    /** What transformers also ignores: the position-id buffer and unused absolute position embeddings. */
    private static boolean ignorable(String name) {
        return name.endsWith("embeddings.position_ids") || name.contains("position_embeddings");
    }

    static Map<String, long[]> expectedShapes(Config c, int numLabels) {
        Map<String, long[]> s = new LinkedHashMap<>();
        long h = c.hiddenSize();
        long e = c.embeddingSize();
        long all = (long) c.numHeads() * c.headSize();
        s.put("deberta.embeddings.word_embeddings.weight", new long[] {c.vocabSize(), e});
        if (c.positionBiasedInput()) {
            s.put("deberta.embeddings.position_embeddings.weight", new long[] {c.maxPositionEmbeddings(), e});
        }
        if (c.typeVocabSize() > 0) {
            s.put("deberta.embeddings.token_type_embeddings.weight", new long[] {c.typeVocabSize(), e});
        }
        if (e != h) {
            s.put("deberta.embeddings.embed_proj.weight", new long[] {h, e});
        }
        s.put("deberta.embeddings.LayerNorm.weight", new long[] {h});
        s.put("deberta.embeddings.LayerNorm.bias", new long[] {h});
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "deberta.encoder.layer." + i + ".";
            for (String proj : List.of("query_proj", "key_proj", "value_proj")) {
                s.put(p + "attention.self." + proj + ".weight", new long[] {all, h});
                s.put(p + "attention.self." + proj + ".bias", new long[] {all});
            }
            if (c.relativeAttention() && !c.shareAttKey()) {
                if (c.posAttType().contains("c2p")) {
                    s.put(p + "attention.self.pos_key_proj.weight", new long[] {all, h});
                    s.put(p + "attention.self.pos_key_proj.bias", new long[] {all});
                }
                if (c.posAttType().contains("p2c")) {
                    s.put(p + "attention.self.pos_query_proj.weight", new long[] {all, h});
                    s.put(p + "attention.self.pos_query_proj.bias", new long[] {all});
                }
            }
            s.put(p + "attention.output.dense.weight", new long[] {h, all});
            s.put(p + "attention.output.dense.bias", new long[] {h});
            s.put(p + "attention.output.LayerNorm.weight", new long[] {h});
            s.put(p + "attention.output.LayerNorm.bias", new long[] {h});
            s.put(p + "intermediate.dense.weight", new long[] {c.intermediateSize(), h});
            s.put(p + "intermediate.dense.bias", new long[] {c.intermediateSize()});
            s.put(p + "output.dense.weight", new long[] {h, c.intermediateSize()});
            s.put(p + "output.dense.bias", new long[] {h});
            s.put(p + "output.LayerNorm.weight", new long[] {h});
            s.put(p + "output.LayerNorm.bias", new long[] {h});
        }
        if (c.relativeAttention()) {
            s.put("deberta.encoder.rel_embeddings.weight", new long[] {2L * c.span(), h});
            if (c.normRelEmbedding()) {
                s.put("deberta.encoder.LayerNorm.weight", new long[] {h});
                s.put("deberta.encoder.LayerNorm.bias", new long[] {h});
            }
        }
        s.put("pooler.dense.weight", new long[] {c.poolerHiddenSize(), c.poolerHiddenSize()});
        s.put("pooler.dense.bias", new long[] {c.poolerHiddenSize()});
        s.put("classifier.weight", new long[] {numLabels, h});
        s.put("classifier.bias", new long[] {numLabels});
        return s;
    }

    private static String firstFew(List<String> names) {
        return names.size() <= 8 ? names.toString() : names.subList(0, 8) + " and " + (names.size() - 8) + " more";
    }

    @Override
    public String architecture() {
        return SequenceClassifiers.DEBERTA_V2_CLASS;
    }

    @Override
    public List<String> labels() {
        return labels;
    }

    @Override
    public int maxLength() {
        return config.maxPositionEmbeddings();
    }

    @Override
    public float[][] classify(List<Input> inputs) {
        if (inputs.isEmpty()) {
            return new float[0][];
        }
        Tensor word = w.get("deberta.embeddings.word_embeddings.weight");
        ClassifierBatch batch = new ClassifierBatch(inputs, config.padTokenId(), maxLength(), word.device());
        batch.checkVocabulary(inputs, config.vocabSize(), config.typeVocabSize());
        try (NoGradGuard g = new NoGradGuard()) {
            return ClassifierBatch.rows(logits(batch.ids, batch.typeIds, batch.mask));
        }
    }

    /** The logits [batch, num_labels] of right- or left-padded ids with a 0/1 mask. */
    Tensor logits(Tensor ids, Tensor typeIds, Tensor mask) {
        long b = ids.size(0);
        long s = ids.size(1);
        Tensor x = w.get("deberta.embeddings.word_embeddings.weight").index_select(0, ids.reshape(-1))
                .view(b, s, -1);
        if (config.positionBiasedInput()) {
            Tensor positions = torch.arange(new Scalar(0L), new Scalar(s), CausalAttention.longsOn(ids.device()));
            x = x.add(w.get("deberta.embeddings.position_embeddings.weight").index_select(0, positions)
                    .unsqueeze(0));
        }
        if (config.typeVocabSize() > 0) {
            x = x.add(w.get("deberta.embeddings.token_type_embeddings.weight").index_select(0, typeIds.reshape(-1))
                    .view(b, s, -1));
        }
        if (config.embeddingSize() != config.hiddenSize()) {
            x = torch.linear(x, w.get("deberta.embeddings.embed_proj.weight"));
        }
        x = layerNorm(x, "deberta.embeddings.LayerNorm");
        Tensor maskF = mask.to(ScalarType.Float);
        x = x.mul(maskF.unsqueeze(2));

        // query i may attend to key j when both are real tokens
        Tensor real = mask.ne(new Scalar(0L));
        Tensor allowed = real.view(b, 1, s, 1).bitwise_and(real.view(b, 1, 1, s));

        Tensor rel = null;
        Tensor relIndex = null;
        if (config.relativeAttention()) {
            rel = w.get("deberta.encoder.rel_embeddings.weight");
            if (config.normRelEmbedding()) {
                rel = layerNorm(rel, "deberta.encoder.LayerNorm");
            }
            relIndex = HostTensors.longs(relativeIndex((int) s, config), s, s, ids.device());
        }
        for (int i = 0; i < config.numLayers(); i++) {
            x = layer(x, i, allowed, rel, relIndex);
        }
        Tensor first = x.select(1, 0);
        Tensor pooled = poolerAct.apply(linear(first, "pooler.dense"));
        return linear(pooled, "classifier");
    }

    private Tensor layer(Tensor x, int index, Tensor allowed, Tensor rel, Tensor relIndex) {
        String p = "deberta.encoder.layer." + index + ".";
        long b = x.size(0);
        long s = x.size(1);
        int heads = config.numHeads();
        int d = config.headSize();
        Tensor q = heads(linear(x, p + "attention.self.query_proj"), heads, d);
        Tensor k = heads(linear(x, p + "attention.self.key_proj"), heads, d);
        Tensor v = heads(linear(x, p + "attention.self.value_proj"), heads, d);
        int scaleFactor = 1 + (config.posAttType().contains("c2p") ? 1 : 0)
                + (config.posAttType().contains("p2c") ? 1 : 0);
        // PyTorch: sqrt of a float32 tensor
        double scale = (float) Math.sqrt((float) d * scaleFactor);
        Tensor scores = torch.matmul(q, k.transpose(2, 3)).div(new Scalar(scale));
        if (rel != null) {
            Tensor rows = relIndex.view(1, 1, s, s).expand(b, heads, s, s);
            if (config.posAttType().contains("c2p")) {
                String proj = config.shareAttKey() ? "attention.self.key_proj" : "attention.self.pos_key_proj";
                Tensor posKey = heads(linear(rel.unsqueeze(0), p + proj), heads, d); // [1, heads, 2span, d]
                Tensor c2p = torch.matmul(q, posKey.transpose(2, 3)); // [b, heads, s, 2span]
                scores = scores.add(c2p.gather(3, rows).div(new Scalar(scale)));
            }
            if (config.posAttType().contains("p2c")) {
                String proj = config.shareAttKey() ? "attention.self.query_proj" : "attention.self.pos_query_proj";
                Tensor posQuery = heads(linear(rel.unsqueeze(0), p + proj), heads, d);
                Tensor p2c = torch.matmul(k, posQuery.transpose(2, 3)); // [b, heads, s (key j), 2span]
                // p2c for (query i, key j) = k_j . Qr[index[i][j]]: gather row j at index[i][j], i.e. index^T
                Tensor byKey = p2c.gather(3, rows.transpose(2, 3)).transpose(2, 3);
                scores = scores.add(byKey.div(new Scalar(scale)));
            }
        }
        Tensor notAllowed = allowed.bitwise_not();
        scores = scores.masked_fill(notAllowed, new Scalar(-Float.MAX_VALUE));
        Tensor probs = scores.softmax(-1, new ScalarTypeOptional(ScalarType.Float)).masked_fill(notAllowed,
                new Scalar(0.0));
        Tensor context = torch.matmul(probs, v).transpose(1, 2).contiguous().reshape(b, s, -1);
        Tensor attention = layerNorm(linear(context, p + "attention.output.dense").add(x),
                p + "attention.output.LayerNorm");
        Tensor intermediate = act.apply(linear(attention, p + "intermediate.dense"));
        return layerNorm(linear(intermediate, p + "output.dense").add(attention), p + "output.LayerNorm");
    }

    /** [..., s, heads * d] -> [..., heads, s, d] (a leading batch dimension is required). */
    private static Tensor heads(Tensor x, int heads, int d) {
        long b = x.size(0);
        long s = x.size(1);
        return x.view(b, s, heads, d).transpose(1, 2);
    }

    private Tensor linear(Tensor x, String name) {
        return torch.linear(x, w.get(name + ".weight"), new TensorOptional(w.get(name + ".bias")));
    }

    private Tensor layerNorm(Tensor x, String name) {
        return torch.layer_norm(x, new long[] {config.hiddenSize()}, new TensorOptional(w.get(name + ".weight")),
                new TensorOptional(w.get(name + ".bias")), config.layerNormEps(), true);
    }

    /**
     * {@code clamp(bucket(i - j) + span, 0, 2 span - 1)} for query i and key j, row-major [s, s]: the row of the
     * relative embeddings that c2p and p2c read.
     */
    static long[] relativeIndex(int s, Config c) {
        int span = c.span();
        long[] out = new long[s * s];
        for (int i = 0; i < s; i++) {
            for (int j = 0; j < s; j++) {
                long r = i - j;
                if (c.positionBuckets() > 0 && c.maxRelativePositions() > 0) {
                    r = logBucket(r, c.positionBuckets(), c.maxRelativePositions());
                }
                out[i * s + j] = Math.max(0, Math.min(2L * span - 1, r + span));
            }
        }
        return out;
    }

    /**
     * transformers' make_log_bucket_position, in float32 as PyTorch evaluates it: distances under half the bucket
     * count stay exact; larger ones grow logarithmically up to max_position.
     */
    static long logBucket(long relative, int bucketSize, int maxPosition) {
        int mid = bucketSize / 2;
        long abs = relative < mid && relative > -mid ? mid - 1 : Math.abs(relative);
        if (abs <= mid) {
            return relative;
        }
        float ratio = (float) abs / (float) mid;
        float logRatio = (float) Math.log(ratio);
        float logMax = (float) Math.log((float) ((maxPosition - 1) / (double) mid));
        float scaled = logRatio / logMax * (float) (mid - 1);
        long logPos = (long) Math.ceil(scaled) + mid;
        return Long.signum(relative) * logPos;
    }
}
