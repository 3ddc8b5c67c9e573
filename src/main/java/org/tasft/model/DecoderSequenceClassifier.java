package org.tasft.model;

import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.tasft.checkpoint.CheckpointException;
import org.tasft.checkpoint.Checkpoints;
import org.tasft.checkpoint.TensorInfo;
import org.tasft.checkpoint.TensorSource;

/**
 * {@code LlamaForSequenceClassification} (and Mistral's, Qwen2's) and {@code GPT2ForSequenceClassification}: the
 * causal LM's trunk ({@link CausalLm#hiddenStates}), then {@code score} (Linear hidden -> num_labels, no bias) on the
 * hidden state of the last token that is not {@code pad_token_id}, as transformers picks it: the rightmost position
 * whose id differs from the pad id (position 0 when every id is the pad id), or the last token when the config has
 * no pad id.
 */
final class DecoderSequenceClassifier implements SequenceClassifier {
    private final String architecture;
    private final CausalLm trunk;
    private final Tensor score;
    private final Tensor scoreBias;
    private final List<String> labels;

    DecoderSequenceClassifier(String architecture, CausalLm trunk, Tensor score, Tensor scoreBias,
            List<String> labels) {
        this.architecture = architecture;
        this.trunk = trunk;
        this.score = score;
        this.scoreBias = scoreBias;
        this.labels = List.copyOf(labels);
        if (score.size(0) != labels.size() || score.size(1) != trunk.config().hiddenSize()) {
            throw new IllegalArgumentException("score.weight must be [" + labels.size() + ", "
                    + trunk.config().hiddenSize() + "], got [" + score.size(0) + ", " + score.size(1) + "]");
        }
    }

    static DecoderSequenceClassifier load(Path dir, String architecture, String configText, JsonNode json,
            String source) {
        List<String> labels = SequenceClassifiers.labels(json, source);
        // The checkpoint has no LM head: a tied config builds a trunk that needs none (the head is never used).
        ObjectNode trunkJson = ((ObjectNode) json.deepCopy()).put("tie_word_embeddings", true);
        ModelConfig config = ModelConfig.parse(trunkJson.toString(), source);
        try (TensorSource all = Checkpoints.open(dir)) {
            if (!all.names().contains("score.weight")) {
                throw new CheckpointException(dir + ": no score.weight (the classification head) in the checkpoint");
            }
            CausalLm trunk = Models.fromTensors(config, new WithoutHead(all));
            Tensor score = all.load("score.weight");
            Tensor bias = all.names().contains("score.bias") ? all.load("score.bias") : null;
            if (score.dim() != 2) {
                throw new CheckpointException(dir + ": score.weight must be 2-D, got " + score.dim() + "-D");
            }
            DecoderSequenceClassifier c = new DecoderSequenceClassifier(architecture, trunk, score, bias, labels);
            trunk.module().eval();
            return c;
        }
    }

    @Override
    public String architecture() {
        return architecture;
    }

    @Override
    public List<String> labels() {
        return labels;
    }

    @Override
    public int maxLength() {
        return trunk.config().maxPositionEmbeddings();
    }

    @Override
    public float[][] classify(List<Input> inputs) {
        if (inputs.isEmpty()) {
            return new float[0][];
        }
        ModelConfig config = trunk.config();
        Device device = trunk.inputEmbeddingWeight().device();
        long padForBatch = config.padTokenId().orElse(0);
        ClassifierBatch batch = new ClassifierBatch(inputs, padForBatch, maxLength(), device);
        batch.checkVocabulary(inputs, config.vocabSize(), 0);
        long[] last = new long[inputs.size()];
        for (int b = 0; b < last.length; b++) {
            last[b] = b * (long) batch.width + lastToken(inputs.get(b).ids(), config);
        }
        Module module = trunk.module();
        boolean wasTraining = module.is_training();
        module.eval();
        try (NoGradGuard g = new NoGradGuard()) {
            Tensor h = trunk.hiddenStates(batch.ids, batch.mask);
            Tensor flat = h.reshape(-1, h.size(2));
            Tensor picked = flat.index_select(0, HostTensors.longs(last, 1, last.length, device).view(-1));
            Tensor logits = scoreBias == null ? torch.linear(picked, score.to(picked))
                    : torch.linear(picked, score.to(picked), new TensorOptional(scoreBias.to(picked)));
            float[][] out = ClassifierBatch.rows(logits);
            h.close();
            return out;
        } finally {
            module.train(wasTraining);
        }
    }

    /** transformers' choice of the pooled position within one unpadded sequence. */
    static int lastToken(long[] ids, ModelConfig config) {
        if (config.padTokenId().isEmpty()) {
            return ids.length - 1;
        }
        long pad = config.padTokenId().getAsInt();
        for (int t = ids.length - 1; t >= 0; t--) {
            if (ids[t] != pad) {
                return t;
            }
        }
        return 0;
    }

    /** A checkpoint's tensors less the classification head, which the trunk does not have. */
    private static final class WithoutHead implements TensorSource {
        private final TensorSource source;
        private final Set<String> names = new LinkedHashSet<>();

        WithoutHead(TensorSource source) {
            this.source = source;
            for (String n : source.names()) {
                if (!n.equals("score.weight") && !n.equals("score.bias")) {
                    names.add(n);
                }
            }
        }

        @Override
        public Set<String> names() {
            return names;
        }

        @Override
        public String location() {
            return source.location();
        }

        @Override
        public TensorInfo info(String name) {
            return source.info(name);
        }

        @Override
        public Tensor load(String name) {
            return source.load(name);
        }

        @Override
        public void close() {
            // the caller closes the source
        }
    }
}
