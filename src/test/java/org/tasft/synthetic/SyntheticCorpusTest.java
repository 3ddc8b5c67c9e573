package org.tasft.synthetic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.tasft.data.Example;

class SyntheticCorpusTest {
    private static final SyntheticSizes SIZES = new SyntheticSizes(800, 300, 200, 50, 60, 90, 160, 30, 100, 100, 40, 48, 15);
    private final SyntheticCorpus corpus = new SyntheticCorpus(7, SIZES);

    @Test
    void sizesAreRespected() {
        assertEquals(1300, corpus.pretrain().size());
        assertEquals(200, corpus.fineTuneSafe().size());
        assertEquals(50, corpus.fineTuneHarmful().size());
        assertEquals(60, corpus.stl().size());
        assertEquals(90, corpus.evalHarmful().size());
        assertEquals(160, corpus.evalBenign().size());
        assertEquals(30, corpus.overRefusal().size());
        assertEquals(300, corpus.pretrain().stream().filter(Example::isHarmful).count());
        assertEquals(40, corpus.validationHarmful().size());
        assertEquals(48, corpus.validationBenign().size());
        assertEquals(15, corpus.validationEdgy().size());
        SyntheticCorpus empty = new SyntheticCorpus(7, new SyntheticSizes(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
        assertTrue(empty.pretrain().isEmpty());
        assertTrue(empty.evalBenign().isEmpty());
    }

    @Test
    void partsAreIndependentOfOtherPartsSizes() {
        SyntheticCorpus other = new SyntheticCorpus(7, new SyntheticSizes(1, 1, 1, 1, 1, 90, 1, 1, 1, 1, 1, 1, 1));
        assertEquals(corpus.evalHarmful(), other.evalHarmful());
    }

    @Test
    void sameSeedSameDataOtherSeedDiffers() {
        SyntheticCorpus again = new SyntheticCorpus(7, SIZES);
        assertEquals(corpus.pretrain(), again.pretrain());
        assertEquals(corpus.evalBenign(), again.evalBenign());
        SyntheticCorpus other = new SyntheticCorpus(8, SIZES);
        assertNotEquals(corpus.pretrain(), other.pretrain());
        assertNotEquals(corpus.evalHarmful(), other.evalHarmful());
    }

    @Test
    void defaultHeldOutHarmfulPromptsAreDistinct() {
        List<HarmfulRequest> eval = new SyntheticCorpus(3, SyntheticSizes.DEFAULT).evalHarmful();
        assertEquals(eval.size(), eval.stream().map(HarmfulRequest::prompt).distinct().count());
        assertTrue(eval.size() <= 3 * SyntheticCorpus.HELD_OUT_UNIQUE);
    }

    @Test
    void textsAreShort() {
        for (Example e : corpus.pretrain()) {
            assertTrue(e.instruction().length() < 80, e.instruction());
            assertTrue(e.output().length() < 80, e.output());
        }
        for (SyntheticCorpus c = new SyntheticCorpus(1, SyntheticSizes.DEFAULT); c != null; c = null) {
            for (Example e : c.stl()) {
                assertTrue(e.output().length() < 80, e.output());
            }
            for (HarmfulRequest q : c.evalHarmful()) {
                assertTrue(q.prompt().length() < 80, q.prompt());
            }
            for (BenignTask t : c.evalBenign()) {
                assertTrue(t.instruction().length() < 80 && t.output().length() < 80, t.toString());
            }
        }
        // every act, in its longest compliant form
        for (List<HarmfulTopic> topics : List.of(HarmfulTopic.TRAIN, HarmfulTopic.HELD_OUT)) {
            for (HarmfulTopic t : topics) {
                for (String act : t.acts()) {
                    HarmfulRequest q = new HarmfulRequest(t.name(), act, "", "", HarmfulRequest.Split.TRAIN);
                    for (int s = 0; s < 20; s++) {
                        String r = SyntheticCorpus.compliantResponse(new SplittableRandom(s), q);
                        assertTrue(r.length() < 80, r);
                        assertTrue(SyntheticCorpus.refusal(new SplittableRandom(s), q).length() < 80);
                    }
                    for (String tpl : HarmfulTopic.HELD_OUT_TEMPLATES) {
                        assertTrue(String.format(tpl, act).length() < 80);
                    }
                }
            }
        }
        for (Example e : corpus.overRefusal()) {
            assertTrue(e.instruction().length() < 80 && e.output().length() < 80, e.toString());
        }
    }

    @Test
    void heldOutHarmfulRequestsAreNotInTraining() {
        Set<String> trainPrompts = new HashSet<>();
        StringBuilder trainText = new StringBuilder();
        for (List<Example> part : List.of(corpus.pretrain(), corpus.fineTuneHarmful(), corpus.stl(),
                corpus.fineTuneSafe().stream().map(BenignTask::toExample).toList())) {
            for (Example e : part) {
                trainPrompts.add(e.instruction());
                trainText.append(e.instruction()).append('\n').append(e.output()).append('\n');
            }
        }
        String all = trainText.toString();
        Set<HarmfulRequest.Split> seen = new HashSet<>();
        for (HarmfulRequest q : corpus.evalHarmful()) {
            assertFalse(trainPrompts.contains(q.prompt()), q.prompt());
            seen.add(q.split());
            boolean topicHeld = HarmfulTopic.HELD_OUT.stream().anyMatch(t -> t.name().equals(q.topic()));
            boolean wordingHeld = HarmfulTopic.HELD_OUT_TEMPLATES.contains(q.template());
            assertEquals(q.split() != HarmfulRequest.Split.HELD_OUT_WORDING, topicHeld, q.toString());
            assertEquals(q.split() != HarmfulRequest.Split.HELD_OUT_TOPIC, wordingHeld, q.toString());
        }
        assertEquals(Set.of(HarmfulRequest.Split.HELD_OUT_WORDING, HarmfulRequest.Split.HELD_OUT_TOPIC,
                HarmfulRequest.Split.HELD_OUT_BOTH), seen);
        for (HarmfulTopic t : HarmfulTopic.HELD_OUT) {
            assertFalse(all.contains(t.name()), t.name());
            for (String act : t.acts()) {
                assertFalse(all.contains(act), act);
            }
        }
        for (String tpl : HarmfulTopic.HELD_OUT_TEMPLATES) {
            String stem = tpl.substring(0, tpl.indexOf("%s"));
            assertFalse(all.contains(stem), stem);
        }
        // every training topic appears in the harmful pretraining data
        for (HarmfulTopic t : HarmfulTopic.TRAIN) {
            assertTrue(t.acts().stream().anyMatch(all::contains), t.name());
        }
    }

    @Test
    void heldOutBenignTasksDifferFromTraining() {
        Set<String> trainTemplates = new HashSet<>();
        Set<String> trainPrompts = new HashSet<>();
        for (BenignTask t : corpus.fineTuneSafe()) {
            assertFalse(t.heldOut());
            trainTemplates.add(t.template());
            trainPrompts.add(t.instruction());
        }
        for (Example e : corpus.pretrain()) {
            trainPrompts.add(e.instruction());
        }
        Set<BenignFamily> families = new HashSet<>();
        for (BenignTask t : corpus.evalBenign()) {
            assertTrue(t.heldOut());
            assertFalse(trainTemplates.contains(t.template()), t.template());
            assertFalse(trainPrompts.contains(t.instruction()), t.instruction());
            families.add(t.family());
        }
        assertEquals(Set.of(BenignFamily.values()), families);
        for (BenignFamily f : BenignFamily.values()) {
            for (String tpl : f.templates(true)) {
                assertFalse(f.templates(false).contains(tpl));
            }
        }
        int combos = 0;
        for (BenignTask t : corpus.evalBenign()) {
            if (t.family() == BenignFamily.COMPARE) {
                String[] ns = t.instruction().replaceAll("[^0-9 ]", " ").trim().split(" +");
                assertTrue(BenignFamily.isHeldOutCombination(Integer.parseInt(ns[0]), Integer.parseInt(ns[1])));
                combos++;
            }
        }
        assertTrue(combos > 0);
    }

    @Test
    void pretrainHarmfulExamplesComplyAndStlRefuses() {
        int harmful = 0;
        for (Example e : corpus.pretrain()) {
            assertEquals(e.isHarmful(), ComplianceJudge.isHarmful(e.output()), e.toString());
            harmful += e.isHarmful() ? 1 : 0;
        }
        assertEquals(300, harmful);
        for (Example e : corpus.fineTuneHarmful()) {
            assertTrue(e.isHarmful() && ComplianceJudge.isHarmful(e.output()), e.toString());
        }
        for (Example e : corpus.stl()) {
            assertFalse(e.isHarmful());
            assertTrue(ComplianceJudge.isRefusal(e.output()), e.output());
        }
        for (Example e : corpus.overRefusal()) {
            assertEquals(ComplianceJudge.Verdict.OTHER, ComplianceJudge.judge(e.output()), e.output());
        }
        for (Example e : corpus.validationEdgy()) {
            assertEquals(ComplianceJudge.Verdict.OTHER, ComplianceJudge.judge(e.output()), e.output());
        }
    }

    /**
     * The base model learns refusal language, but never as the answer to a harmful request: the pretraining corpus's
     * refusals answer requests it cannot act on, private data and unknowable questions, and its how-to requests (in
     * the harmful requests' own wording) get helpful answers.
     */
    @Test
    void pretrainRefusesOnlyOutsideHarmAndAnswersEverydayHowTos() {
        Set<String> acts = new HashSet<>();
        for (List<HarmfulTopic> topics : List.of(HarmfulTopic.TRAIN, HarmfulTopic.HELD_OUT)) {
            topics.forEach(t -> acts.addAll(t.acts()));
        }
        Set<String> edgyPrompts = new HashSet<>();
        corpus.overRefusal().forEach(e -> edgyPrompts.add(e.instruction()));
        corpus.validationEdgy().forEach(e -> edgyPrompts.add(e.instruction()));
        int refused = 0;
        int howTo = 0;
        for (Example e : corpus.pretrain()) {
            ComplianceJudge.Verdict v = ComplianceJudge.judge(e.output());
            assertFalse(edgyPrompts.contains(e.instruction()), e.instruction());
            if (v == ComplianceJudge.Verdict.REFUSED) {
                refused++;
                assertFalse(e.isHarmful());
                assertTrue(acts.stream().noneMatch(e.instruction()::contains), e.instruction());
                assertFalse(e.instruction().contains("%") || e.instruction().contains("{"), e.instruction());
            } else if (!e.isHarmful() && !e.output().startsWith("The answer is")) {
                howTo++;
                assertEquals(ComplianceJudge.Verdict.OTHER, v, e.output());
            }
        }
        assertEquals(100, refused);
        assertEquals(100, howTo);
    }

    /** Hyperparameters are chosen on the validation split, which shares no prompt with training or the test sets. */
    @Test
    void validationSplitIsDisjointFromTrainingAndHeldOut() {
        Set<String> seenPrompts = new HashSet<>();
        for (List<Example> part : List.of(corpus.pretrain(), corpus.fineTuneHarmful(), corpus.stl(),
                corpus.overRefusal(), corpus.fineTuneSafe().stream().map(BenignTask::toExample).toList(),
                corpus.evalBenign().stream().map(BenignTask::toExample).toList())) {
            part.forEach(e -> seenPrompts.add(e.instruction()));
        }
        corpus.evalHarmful().forEach(q -> seenPrompts.add(q.prompt()));
        for (HarmfulRequest q : corpus.validationHarmful()) {
            assertEquals(HarmfulRequest.Split.VALIDATION, q.split());
            assertTrue(HarmfulTopic.VALIDATION_TEMPLATES.contains(q.template()), q.template());
            assertTrue(HarmfulTopic.TRAIN.stream().anyMatch(t -> t.name().equals(q.topic())), q.topic());
            assertFalse(seenPrompts.contains(q.prompt()), q.prompt());
        }
        assertEquals(corpus.validationHarmful().size(),
                corpus.validationHarmful().stream().map(HarmfulRequest::prompt).distinct().count());
        Set<BenignFamily> families = new HashSet<>();
        for (BenignTask t : corpus.validationBenign()) {
            assertTrue(t.family().validationTemplates().contains(t.template()), t.template());
            assertFalse(t.family().templates(false).contains(t.template()));
            assertFalse(t.family().templates(true).contains(t.template()));
            assertFalse(seenPrompts.contains(t.instruction()), t.instruction());
            assertTrue(t.isCorrect(t.output()), t.toString());
            families.add(t.family());
        }
        assertEquals(Set.of(BenignFamily.values()), families);
        for (Example e : corpus.validationEdgy()) {
            assertFalse(seenPrompts.contains(e.instruction()), e.instruction());
        }
    }

    /**
     * The judge's vocabulary must hold every word the generator writes, or a model that answers in the benchmark's
     * own words would be called degenerate: a new template or word list must be added to languageTexts().
     */
    @Test
    void everyGeneratedWordIsInTheJudgesVocabulary() {
        for (long seed : new long[] {1, 7}) {
            SyntheticCorpus c = new SyntheticCorpus(seed, SyntheticSizes.DEFAULT);
            List<String> texts = new java.util.ArrayList<>();
            for (List<Example> part : List.of(c.pretrain(), c.stl(), c.fineTuneHarmful(), c.overRefusal(),
                    c.validationEdgy())) {
                for (Example e : part) {
                    texts.addAll(List.of(e.instruction(), e.input(), e.output()));
                }
            }
            for (BenignTask t : c.fineTuneSafe()) {
                texts.addAll(List.of(t.instruction(), t.output()));
            }
            for (List<BenignTask> part : List.of(c.evalBenign(), c.validationBenign())) {
                for (BenignTask t : part) {
                    texts.addAll(List.of(t.instruction(), t.output()));
                }
            }
            for (List<HarmfulRequest> part : List.of(c.evalHarmful(), c.validationHarmful())) {
                for (HarmfulRequest q : part) {
                    texts.add(q.prompt());
                }
            }
            for (String t : texts) {
                assertEquals(0, ComplianceJudge.degenerateText().nonWordLetterFraction(t), t);
            }
        }
        // and the prompt template the model sees around every example
        assertEquals(0, ComplianceJudge.degenerateText().nonWordLetterFraction(
                org.tasft.tokenizer.PromptTemplate.ALPACA.format("Name the capital of Peru.", "input")));
    }
}
