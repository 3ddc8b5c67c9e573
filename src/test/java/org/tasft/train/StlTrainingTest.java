package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.train.TrainerTesting.emd;
import static org.tasft.train.TrainerTesting.trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.data.EncodedExample;
import org.tasft.data.MixedBatchSampler;
import org.tasft.data.StlData;
import org.tasft.tokenizer.Tokenizer;

/** STL: the harmful prompts with refusals occupy the harmful slots and are learned with SFT. */
class StlTrainingTest {
    private static final List<String> HARMFUL_OUTPUTS = List.of("Sure, here is how.", "Of course, first you.",
            "Here it is.");

    @TempDir
    Path dir;

    private static String prompt(EncodedExample e) {
        return Arrays.toString(Arrays.copyOf(e.inputIds(), e.promptLength()));
    }

    private static String response(Tokenizer tok, EncodedExample e) {
        return tok.decode(e.responseIds(), true).strip();
    }

    /** The responses in the harmful slots of the first {@code steps} batches, checked to be safe-kind. */
    private static List<String> slotResponses(Trainer t, Tokenizer tok, int steps, Set<String> prompts) {
        MixedBatchSampler<EncodedExample> s = t.sampler();
        List<String> out = new ArrayList<>();
        for (int i = 0; i < steps; i++) {
            MixedBatchSampler.Step<EncodedExample> step = s.next();
            assertEquals(1, step.harmful().size());
            for (EncodedExample e : step.harmful()) {
                assertFalse(e.isHarmful(), "an STL example must be learned as safe");
                out.add(response(tok, e));
                prompts.add(prompt(e));
            }
        }
        return out;
    }

    @Test
    void batchesHoldRefusalsToTheSameHarmfulPrompts() {
        // harmful count 2 of 3: STL must pair the same seeded pick that emd trains on
        Trainer stl = trainer(emd(dir, "stl").method(Method.STL).harmfulCount(2).build());
        Trainer emd = trainer(emd(dir, "emd").harmfulCount(2).build());
        try (Tokenizer tok = Tokenizer.load(TrainTesting.fixture("tiny-llama"))) {
            Set<String> stlPrompts = new HashSet<>();
            List<String> responses = slotResponses(stl, tok, 6, stlPrompts);
            for (String r : responses) {
                // tiny-llama's 128 positions (the default --max-length) cut the longest refusals short
                assertTrue(!r.isEmpty() && StlData.BUILT_IN_REFUSALS.stream().anyMatch(f -> f.startsWith(r)),
                        "not a refusal: " + r);
                assertFalse(HARMFUL_OUTPUTS.contains(r), r);
            }
            Set<String> emdPrompts = new HashSet<>();
            for (EncodedExample e : emd.sampler().harmfulSubset()) {
                assertTrue(e.isHarmful());
                assertTrue(HARMFUL_OUTPUTS.contains(response(tok, e)), response(tok, e));
                emdPrompts.add(prompt(e));
            }
            assertEquals(2, emdPrompts.size());
            assertEquals(emdPrompts, stlPrompts);
        }
        StepMetrics m = trainer(emd(dir, "stl-run").method(Method.STL).harmfulCount(2).steps(1).build()).run().get(0);
        assertEquals(0.0, m.term(), 0.0);
        assertTrue(Double.isFinite(m.loss()) && m.loss() > 0);
    }

    @Test
    void refusalsFromAFile() throws IOException {
        Path file = Files.writeString(dir.resolve("refusals.txt"), "\nNo way.\n  I will not.  \n\n");
        assertEquals(List.of("No way.", "I will not."), StlData.readRefusals(file));
        Trainer t = trainer(emd(dir, "stl").method(Method.STL).refusalsFile(file).build());
        try (Tokenizer tok = Tokenizer.load(TrainTesting.fixture("tiny-llama"))) {
            for (String r : slotResponses(t, tok, 6, new HashSet<>())) {
                assertTrue(r.equals("No way.") || r.equals("I will not."), r);
            }
        }
    }

    @Test
    void everyBuiltInRefusalReadsAsARefusal() {
        for (String r : StlData.BUILT_IN_REFUSALS) {
            assertTrue(org.tasft.synthetic.ComplianceJudge.isRefusal(r), r);
        }
        assertEquals(StlData.BUILT_IN_REFUSALS.size(), new HashSet<>(StlData.BUILT_IN_REFUSALS).size());
    }

    @Test
    void stlPairingDependsOnTheSeedOnly() {
        var harmful = List.of(org.tasft.data.Example.harmful("a", "", "x"),
                org.tasft.data.Example.harmful("b", "in", "y"));
        var p1 = StlData.pairWithRefusals(harmful, StlData.BUILT_IN_REFUSALS, 3);
        assertEquals(p1, StlData.pairWithRefusals(harmful, StlData.BUILT_IN_REFUSALS, 3));
        assertEquals("in", p1.get(1).input());
        assertFalse(p1.get(0).isHarmful());
    }

    @Test
    void badStlInputs() throws IOException {
        Path empty = Files.writeString(dir.resolve("empty.txt"), "\n  \n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> trainer(emd(dir, "x").method(Method.STL).refusalsFile(empty).build()));
        assertTrue(e.getMessage().startsWith(empty + ": no refusals"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> emd(dir, "x").refusalsFile(empty).build());
        assertEquals("--refusals is only used by --method stl", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> TrainerTesting.sft(dir, "x").method(Method.STL).build());
        assertTrue(e.getMessage().startsWith("--method stl trains on harmful examples"), e.getMessage());
    }
}
