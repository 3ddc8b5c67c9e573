package org.tasft.generate;

import java.util.Arrays;

/**
 * How {@link Generator} picks tokens and when it stops. Immutable; each setter returns a copy.
 *
 * <p>Temperature 0 is greedy decoding (the first token of largest logit). Otherwise the logits are divided by the
 * temperature, softmax-ed in float64 and cut to the nucleus: the most probable tokens whose probabilities, added in
 * decreasing order, first reach {@code topP} (at least one token), from which one token is drawn.
 */
public final class GenerationOptions {
    private static final GenerationOptions DEFAULTS = new GenerationOptions(64, 0.0, 1.0, 0L, true, null);

    private final int maxNewTokens;
    private final double temperature;
    private final double topP;
    private final long seed;
    private final boolean useCache;
    private final long[] stopTokens;

    private GenerationOptions(int maxNewTokens, double temperature, double topP, long seed, boolean useCache,
            long[] stopTokens) {
        this.maxNewTokens = maxNewTokens;
        this.temperature = temperature;
        this.topP = topP;
        this.seed = seed;
        this.useCache = useCache;
        this.stopTokens = stopTokens;
    }

    /** 64 new tokens, greedy, top-p 1, seed 0, with the KV cache, stopping at the model config's EOS ids. */
    public static GenerationOptions defaults() {
        return DEFAULTS;
    }

    public GenerationOptions maxNewTokens(int value) {
        if (value < 0) {
            throw new IllegalArgumentException("--max-new-tokens must be >= 0, got " + value);
        }
        return new GenerationOptions(value, temperature, topP, seed, useCache, stopTokens);
    }

    /** 0 for greedy decoding, else the softmax temperature of sampling. */
    public GenerationOptions temperature(double value) {
        if (!(value >= 0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException("--temperature must be a finite number >= 0, got " + value);
        }
        return new GenerationOptions(maxNewTokens, value, topP, seed, useCache, stopTokens);
    }

    /** Nucleus sampling's probability mass, in (0, 1]; 1 samples from the whole distribution. */
    public GenerationOptions topP(double value) {
        if (!(value > 0 && value <= 1)) {
            throw new IllegalArgumentException("--top-p must be in (0, 1], got " + value);
        }
        return new GenerationOptions(maxNewTokens, temperature, value, seed, useCache, stopTokens);
    }

    /** The seed of sampling: the same seed, prompts and options give the same tokens. */
    public GenerationOptions seed(long value) {
        return new GenerationOptions(maxNewTokens, temperature, topP, value, useCache, stopTokens);
    }

    /** false recomputes the forward pass over the whole sequence at every step (slow; the cache's oracle). */
    public GenerationOptions useCache(boolean value) {
        return new GenerationOptions(maxNewTokens, temperature, topP, seed, value, stopTokens);
    }

    /**
     * The tokens that end a sequence (EOS); none given = the model config's {@code eos_token_id}s. An empty array
     * never stops before {@code maxNewTokens}.
     */
    public GenerationOptions stopTokens(long... ids) {
        return new GenerationOptions(maxNewTokens, temperature, topP, seed, useCache, ids.clone());
    }

    public int maxNewTokens() {
        return maxNewTokens;
    }

    public double temperature() {
        return temperature;
    }

    public double topP() {
        return topP;
    }

    public long seed() {
        return seed;
    }

    public boolean useCache() {
        return useCache;
    }

    public boolean greedy() {
        return temperature == 0;
    }

    /** The stop tokens set with {@link #stopTokens(long...)}, or null for the model's EOS ids. */
    public long[] stopTokenIds() {
        return stopTokens == null ? null : stopTokens.clone();
    }

    @Override
    public String toString() {
        return "GenerationOptions{maxNewTokens=" + maxNewTokens + ", temperature=" + temperature + ", topP=" + topP
                + ", seed=" + seed + ", useCache=" + useCache + ", stopTokens="
                + (stopTokens == null ? "model EOS" : Arrays.toString(stopTokens)) + "}";
    }
}
