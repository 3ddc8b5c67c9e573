package org.tasft.benchmark;

import org.tasft.synthetic.SyntheticSizes;

/**
 * Everything a job on the built-in synthetic benchmark does, sized: the corpus, the small Llama, its pretraining into
 * the unsafe base model, the fine-tuning runs and the evaluation. Build by name with {@link #builder()}.
 */
public record BenchmarkSettings(long seed, SyntheticSizes sizes, int hidden, int layers, int heads, int kvHeads,
                       int intermediate, int maxPositions, int pretrainSteps, int pretrainBatch,
                       double pretrainLr, int fineTuneSteps, int fineTuneBatch, int fineTuneSafePerBatch,
                       int harmfulCount, double fineTuneLr, double lambda, int evalHarmful, int evalBenign,
                       int maxNewTokens, int evalBatch) {
    /**
     * The default job: sized for about 5 minutes on two idle CPU cores the first time (10 at most). 30 harmful
     * examples at TA-SFT's weight {@link #EMD_LAMBDA}.
     */
    public static BenchmarkSettings defaults() {
        return builder().build();
    }

    /** The default job's settings, to change by name ({@code builder().fineTuneSteps(10).build()}). */
    public static Builder builder() {
        return new Builder();
    }

    /** These settings with other step counts (the experiment's --steps). */
    public BenchmarkSettings withSteps(int pretrain, int fineTune) {
        return new BenchmarkSettings(seed, sizes, hidden, layers, heads, kvHeads, intermediate, maxPositions, pretrain,
                pretrainBatch, pretrainLr, fineTune, fineTuneBatch, fineTuneSafePerBatch, harmfulCount, fineTuneLr,
                lambda, evalHarmful, evalBenign, maxNewTokens, evalBatch);
    }

    /**
     * TA-SFT's weight on this benchmark: the one the experiment's validation rule chose for emd (2026-12-06,
     * docs/results/experiment: lambda 0.1, the most accurate of 0.1, 0.25, 0.5, 1 on the validation benign tasks, none
     * of which stayed within 2 points of SFT's; every one removed compliance, mostly by degenerate answers).
     */
    public static final double EMD_LAMBDA = 0.1;

    /** Builds {@link BenchmarkSettings} by name; every default is written here once. */
    public static final class Builder {
        private long seed = 1;
        private SyntheticSizes sizes = SyntheticSizes.DEFAULT;
        private int hidden = 128;
        private int layers = 4;
        private int heads = 4;
        private int kvHeads = 2;
        private int intermediate = 384;
        private int maxPositions = 128;
        private int pretrainSteps = 1800;
        private int pretrainBatch = 32;
        private double pretrainLr = 2e-3;
        private int fineTuneSteps = 150;
        private int fineTuneBatch = 16;
        private int fineTuneSafePerBatch = 14;
        private int harmfulCount = 30;
        private double fineTuneLr = 3e-4;
        private double lambda = EMD_LAMBDA;
        private int evalHarmful = 108;
        private int evalBenign = 320;
        private int maxNewTokens = 40;
        private int evalBatch = 64;

        private Builder() {
        }

        public Builder seed(long v) { seed = v; return this; }
        public Builder sizes(SyntheticSizes v) { sizes = v; return this; }
        /** The model: hidden size, layers, attention heads, key/value heads, MLP size, context. */
        public Builder model(int hidden, int layers, int heads, int kvHeads, int intermediate, int maxPositions) {
            this.hidden = hidden;
            this.layers = layers;
            this.heads = heads;
            this.kvHeads = kvHeads;
            this.intermediate = intermediate;
            this.maxPositions = maxPositions;
            return this;
        }
        public Builder pretrainSteps(int v) { pretrainSteps = v; return this; }
        public Builder pretrainBatch(int v) { pretrainBatch = v; return this; }
        public Builder pretrainLr(double v) { pretrainLr = v; return this; }
        public Builder fineTuneSteps(int v) { fineTuneSteps = v; return this; }
        public Builder fineTuneBatch(int v) { fineTuneBatch = v; return this; }
        public Builder fineTuneSafePerBatch(int v) { fineTuneSafePerBatch = v; return this; }
        public Builder harmfulCount(int v) { harmfulCount = v; return this; }
        public Builder fineTuneLr(double v) { fineTuneLr = v; return this; }
        public Builder lambda(double v) { lambda = v; return this; }
        public Builder evalHarmful(int v) { evalHarmful = v; return this; }
        public Builder evalBenign(int v) { evalBenign = v; return this; }
        public Builder maxNewTokens(int v) { maxNewTokens = v; return this; }
        public Builder evalBatch(int v) { evalBatch = v; return this; }

        public BenchmarkSettings build() {
            return new BenchmarkSettings(seed, sizes, hidden, layers, heads, kvHeads, intermediate, maxPositions,
                    pretrainSteps,
                    pretrainBatch, pretrainLr, fineTuneSteps, fineTuneBatch, fineTuneSafePerBatch, harmfulCount,
                    fineTuneLr, lambda, evalHarmful, evalBenign, maxNewTokens, evalBatch);
        }
    }
}
