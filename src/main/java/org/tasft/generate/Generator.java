package org.tasft.generate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.tasft.model.NonFiniteException;
import org.tasft.model.CausalLm;
import org.tasft.model.HostTensors;
import org.tasft.model.KvCache;
import org.tasft.model.ModelConfig;

/**
 * Autoregressive generation for a batch of prompts of any lengths.
 *
 * <p>Prompts are left-padded to a common length with an attention mask of 0 on the padding, so that every
 * sequence's next token is at the same column; the model derives position ids from the mask, so a padded prompt
 * sees the same positions as alone. With the KV cache (the default) the prompts run through the model once and each
 * later step feeds one token per sequence; without it every step runs the whole sequence again. A sequence that has
 * finished is fed padding until the whole batch is done, masked out (so its positions never run past the context),
 * and its further tokens are thrown away.
 *
 * <p>A sequence never grows past the model's context, {@code max_position_embeddings} tokens with its prompt: one
 * that gets there first stops with {@link StopReason#CONTEXT_LIMIT}, at its own limit whatever the others' lengths
 * (its positions come from the mask, not from the padded column). A prompt that alone fills the context leaves no
 * room for a token and is refused with an {@link IllegalArgumentException}.
 *
 * <p>Sampling is reproducible from {@link GenerationOptions#seed(long)} alone: a {@link SplittableRandom} seeded
 * with it is split once per sequence, in batch order, and each sequence draws one {@code nextDouble()} per sampled
 * token from its own stream, so a sequence's draws do not depend on when the others stop. Token choice runs in Java
 * on a float64 softmax of the last position's float32 logits, which keeps it independent of LibTorch's random state
 * and of the device.
 *
 * <p>The model is put in eval mode (no dropout) for the call and back in its previous mode afterwards.
 *
 * <p>Memory: every step runs in its own {@link PointerScope}, so its temporaries (each layer's projections, the
 * attention scores, the logits) are freed when the step ends instead of when the Java garbage collector gets round
 * to their handles (which it rarely does: the handles are small, the native memory behind them is not; batch 8 of a
 * 160M model grew to 8.7 GB that way). Only the KV cache's tensors survive a step (the cache holds its own
 * references), and the cache is cleared when the call returns.
 */
public final class Generator {
    /** Why a sequence ended. */
    public enum StopReason {
        /** It produced one of the stop tokens (not included in the tokens). */
        STOP_TOKEN("eos"),
        /** It reached the maximum number of new tokens. */
        MAX_NEW_TOKENS("max_new_tokens"),
        /**
         * It filled the model's context ({@code max_position_embeddings} tokens, prompt included) before its stop
         * token or the maximum number of new tokens: the answer is cut short.
         */
        CONTEXT_LIMIT("context_limit");

        private final String label;

        StopReason(String label) {
            this.label = label;
        }

        /** The name written in outputs: eos, max_new_tokens or context_limit. */
        public String label() {
            return label;
        }
    }

    /**
     * One sequence's result.
     *
     * @param tokens    the new tokens, without the prompt and without the stop token
     * @param reason    why it ended
     * @param stopToken the stop token produced, or -1
     */
    public record Generation(long[] tokens, StopReason reason, long stopToken) {
        @Override
        public String toString() {
            return Arrays.toString(tokens) + " (" + reason + (stopToken >= 0 ? " " + stopToken : "") + ")";
        }
    }

    private final CausalLm model;

    public Generator(CausalLm model) {
        this.model = model;
    }

    /** Continues one prompt. */
    public Generation generate(long[] prompt, GenerationOptions options) {
        return generate(List.of(prompt), options).get(0);
    }

    /** Continues every prompt (token ids, at least one each); the results are in the prompts' order. */
    public List<Generation> generate(List<long[]> prompts, GenerationOptions options) {
        return generate(prompts, options, null);
    }

    /**
     * {@link #generate(List, GenerationOptions)} with one sampling seed per sequence: sequence i draws from
     * {@code new SplittableRandom(sequenceSeeds[i])} instead of a split of {@code options.seed()}, so that its tokens
     * do not depend on which other prompts share its batch (e.g. when a long list is generated in batches of any
     * size). Null: the splits of {@code options.seed()}.
     */
    public List<Generation> generate(List<long[]> prompts, GenerationOptions options, long[] sequenceSeeds) {
        if (sequenceSeeds != null && sequenceSeeds.length != prompts.size()) {
            throw new IllegalArgumentException("sequenceSeeds: " + sequenceSeeds.length + " seeds for "
                    + prompts.size() + " prompts");
        }
        ModelConfig config = model.config();
        long[] stop = options.stopTokenIds() != null ? options.stopTokenIds()
                : config.eosTokenIds().stream().mapToLong(Integer::longValue).toArray();
        int batch = prompts.size();
        int promptLength = 0;
        for (int i = 0; i < batch; i++) {
            long[] p = prompts.get(i);
            if (p.length == 0) {
                throw new IllegalArgumentException("prompt " + i + " is empty");
            }
            for (long id : p) {
                if (id < 0 || id >= config.vocabSize()) {
                    throw new IllegalArgumentException("prompt " + i + ": token id " + id
                            + " is outside the model's vocabulary [0, " + config.vocabSize() + ")");
                }
            }
            promptLength = Math.max(promptLength, p.length);
        }
        // Each sequence's own budget: at most maxNewTokens, and never past the context (prompt included).
        int context = config.maxPositionEmbeddings();
        int[] budget = new int[batch];
        int longestBudget = 0;
        for (int i = 0; i < batch; i++) {
            int length = prompts.get(i).length;
            if (length >= context) {
                throw new IllegalArgumentException("prompt " + i + " is " + length + " tokens: it fills the model's "
                        + "context of " + context + " (max_position_embeddings) and leaves no room for a new token");
            }
            budget[i] = Math.min(options.maxNewTokens(), context - length);
            longestBudget = Math.max(longestBudget, budget[i]);
        }
        int total = promptLength + longestBudget;
        if (batch == 0 || options.maxNewTokens() == 0) {
            List<Generation> empty = new ArrayList<>();
            for (int i = 0; i < batch; i++) {
                empty.add(new Generation(new long[0], StopReason.MAX_NEW_TOKENS, -1));
            }
            return empty;
        }
        // Padding's value never matters (it is masked), but it must be a valid embedding row.
        long pad = config.padTokenId().isPresent() ? config.padTokenId().getAsInt() : stop.length > 0 ? stop[0] : 0;

        // All tokens so far, left-padded: row b holds prompt b in columns [promptLength - len_b, promptLength).
        long[][] tokens = new long[batch][total];
        long[][] mask = new long[batch][total];
        for (int b = 0; b < batch; b++) {
            long[] p = prompts.get(b);
            int start = promptLength - p.length;
            Arrays.fill(tokens[b], 0, start, pad);
            System.arraycopy(p, 0, tokens[b], start, p.length);
            // later columns are marked real as the sequence's own tokens are written
            Arrays.fill(mask[b], start, promptLength, 1L);
        }

        SplittableRandom root = new SplittableRandom(options.seed());
        SplittableRandom[] random = new SplittableRandom[batch];
        for (int b = 0; b < batch; b++) {
            random[b] = sequenceSeeds == null ? root.split() : new SplittableRandom(sequenceSeeds[b]);
        }
        int[] generated = new int[batch];
        StopReason[] reason = new StopReason[batch];
        long[] stopToken = new long[batch];
        Arrays.fill(stopToken, -1);
        int unfinished = batch;

        Module module = model.module();
        boolean wasTraining = module.is_training();
        Device device = model.inputEmbeddingWeight().device();
        module.eval();
        KvCache cache = options.useCache() ? model.newCache() : null;
        try (NoGradGuard noGrad = new NoGradGuard()) {
            int length = promptLength;
            while (true) {
                float[] logits;
                try (PointerScope step = new PointerScope()) {
                    logits = lastLogits(tokens, mask, length, cache, device);
                }
                // NaN logits would decode as token 0 or an empty answer: a broken model, not a quiet one
                NonFiniteException.checkLogits(logits, model, "generation step " + (length - promptLength + 1));
                int vocab = logits.length / batch;
                for (int b = 0; b < batch; b++) {
                    long next;
                    if (reason[b] != null) {
                        next = pad;
                    } else {
                        next = options.greedy() ? argmax(logits, b * vocab, vocab)
                                : sample(logits, b * vocab, vocab, options.temperature(), options.topP(), random[b]);
                        if (contains(stop, next)) {
                            reason[b] = StopReason.STOP_TOKEN;
                            stopToken[b] = next;
                            unfinished--;
                        } else {
                            generated[b]++;
                            if (generated[b] == options.maxNewTokens()) {
                                reason[b] = StopReason.MAX_NEW_TOKENS;
                                unfinished--;
                            } else if (generated[b] == budget[b]) {
                                reason[b] = StopReason.CONTEXT_LIMIT;
                                unfinished--;
                            }
                        }
                    }
                    tokens[b][length] = next;
                    // Only a token that will be continued is real: a finished sequence's later columns (its last
                    // token, then padding) are masked, which keeps its positions inside the context.
                    mask[b][length] = reason[b] == null ? 1L : 0L;
                }
                length++;
                if (unfinished == 0) {
                    break;
                }
            }
        } finally {
            if (cache != null) {
                cache.clear(); // frees the keys and values now
            }
            module.train(wasTraining);
        }

        List<Generation> result = new ArrayList<>(batch);
        for (int b = 0; b < batch; b++) {
            result.add(new Generation(Arrays.copyOfRange(tokens[b], promptLength, promptLength + generated[b]),
                    reason[b], stopToken[b]));
        }
        return result;
    }

    /**
     * The float32 logits of column {@code length - 1}, [batch * vocab]: with a cache, feeds only the columns the
     * cache has not seen yet; without, the whole prefix.
     */
    private float[] lastLogits(long[][] tokens, long[][] mask, int length, KvCache cache, Device device) {
        int batch = tokens.length;
        int from = cache == null ? 0 : Math.toIntExact(cache.length());
        int width = length - from;
        long[] ids = new long[batch * width];
        long[] attention = new long[batch * length];
        for (int b = 0; b < batch; b++) {
            System.arraycopy(tokens[b], from, ids, b * width, width);
            System.arraycopy(mask[b], 0, attention, b * length, length);
        }
        Tensor input = HostTensors.longs(ids, batch, width, device);
        Tensor attentionMask = HostTensors.longs(attention, batch, length, device);
        Tensor logits = model.forward(input, attentionMask, cache);
        try {
            return HostTensors.floats(logits.select(1, width - 1));
        } finally {
            // The logits are [batch, width, vocab]: free them now rather than when the garbage collector runs.
            logits.close();
            input.close();
            attentionMask.close();
        }
    }

    private static boolean contains(long[] ids, long id) {
        for (long x : ids) {
            if (x == id) {
                return true;
            }
        }
        return false;
    }

    /** The first index of the largest value (NaN never wins). */
    static int argmax(float[] logits, int offset, int vocab) {
        int best = 0;
        float max = Float.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) {
            float z = logits[offset + v];
            if (z > max) {
                max = z;
                best = v;
            }
        }
        return best;
    }

    /**
     * One draw from the nucleus of {@code softmax(z / temperature)}: tokens in decreasing probability (ties by
     * increasing id) until their mass first reaches {@code topP}, renormalised.
     */
    static int sample(float[] logits, int offset, int vocab, double temperature, double topP,
            SplittableRandom random) {
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) {
            max = Math.max(max, logits[offset + v]);
        }
        if (max == Double.NEGATIVE_INFINITY) {
            throw new IllegalStateException("every logit is -inf or NaN");
        }
        double[] p = new double[vocab];
        double sum = 0;
        for (int v = 0; v < vocab; v++) {
            double z = logits[offset + v];
            p[v] = Double.isNaN(z) ? 0 : Math.exp((z - max) / temperature);
            sum += p[v];
        }
        double u = random.nextDouble();
        if (topP >= 1) {
            double target = u * sum;
            double acc = 0;
            int last = 0;
            for (int v = 0; v < vocab; v++) {
                if (p[v] > 0) {
                    acc += p[v];
                    last = v;
                    if (acc > target) {
                        return v;
                    }
                }
            }
            return last; // rounding left u * sum just above the total
        }
        Integer[] order = new Integer[vocab];
        for (int v = 0; v < vocab; v++) {
            order[v] = v;
        }
        Arrays.sort(order, (a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a]) : Integer.compare(a, b));
        int kept = 0;
        double mass = 0;
        while (kept < vocab && (kept == 0 || mass < topP * sum)) {
            mass += p[order[kept++]];
        }
        double target = u * mass;
        double acc = 0;
        for (int i = 0; i < kept; i++) {
            acc += p[order[i]];
            if (acc > target) {
                return order[i];
            }
        }
        return order[kept - 1];
    }
}
