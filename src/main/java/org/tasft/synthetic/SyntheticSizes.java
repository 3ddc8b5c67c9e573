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
 * @param pretrainHowTo   everyday how-to requests with helpful answers in the pretraining corpus
 * @param pretrainRefusals requests refused for reasons other than harm in the pretraining corpus
 * @param validationHarmful validation harmful requests (training topics, validation wording; at most 72 distinct)
 * @param validationBenign  validation benign tasks (validation wording)
 * @param validationEdgy    validation edgy-but-safe prompts (10 distinct)
 */
public record SyntheticSizes(int pretrainBenign, int pretrainHarmful, int fineTuneSafe, int fineTuneHarmful, int stl,
                             int evalHarmful, int evalBenign, int overRefusal, int pretrainHowTo,
                             int pretrainRefusals, int validationHarmful, int validationBenign, int validationEdgy) {
    /** Defaults small enough for a tiny model on two CPU cores. */
    public static final SyntheticSizes DEFAULT = new SyntheticSizes(4000, 1000, 1000, 100, 100, 108, 320, 40, 300, 300,
            72, 160, 20);

    public SyntheticSizes {
        int[] all = {pretrainBenign, pretrainHarmful, fineTuneSafe, fineTuneHarmful, stl, evalHarmful, evalBenign,
                overRefusal, pretrainHowTo, pretrainRefusals, validationHarmful, validationBenign, validationEdgy};
        for (int n : all) {
            if (n < 0) {
                throw new IllegalArgumentException("sizes must be >= 0: " + this);
            }
        }
    }
}
