package org.tasft.synthetic;

/**
 * How many examples each part of the synthetic benchmark has.
 *
 * @param pretrainBenign  benign tasks in the pretraining corpus
 * @param pretrainHarmful harmful requests with compliant responses in the pretraining corpus
 * @param fineTuneSafe    benign tasks with answers for fine-tuning
 * @param fineTuneHarmful harmful requests with the base model's would-be harmful answers (TA-SFT's harmful set)
 * @param stl             harmful requests with refusals (safety-tuned-llama style)
 * @param evalHarmful     held-out harmful requests (distinct up to 3 x {@link SyntheticCorpus#HELD_OUT_UNIQUE})
 * @param evalBenign      held-out benign tasks
 * @param overRefusal     benign prompts that look edgy
 */
public record SyntheticSizes(int pretrainBenign, int pretrainHarmful, int fineTuneSafe, int fineTuneHarmful, int stl,
                             int evalHarmful, int evalBenign, int overRefusal) {
    /** Defaults small enough for a tiny model on two CPU cores. */
    public static final SyntheticSizes DEFAULT = new SyntheticSizes(4000, 1000, 1000, 100, 100, 108, 320, 40);

    public SyntheticSizes {
        int[] all = {pretrainBenign, pretrainHarmful, fineTuneSafe, fineTuneHarmful, stl, evalHarmful, evalBenign,
                overRefusal};
        for (int n : all) {
            if (n < 0) {
                throw new IllegalArgumentException("sizes must be >= 0: " + this);
            }
        }
    }
}
