package org.tasft.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.tasft.generate.Generator.Generation;
import org.tasft.generate.Generator.StopReason;
import org.tasft.model.CausalLm;

/**
 * The generator's invariants on every model: the cache changes nothing, a batch equals its sequences one by one,
 * a seed repeats, a vanishing nucleus is greedy, a stop token ends its own sequence only.
 */
class GeneratorTest {
    static Stream<Arguments> models() {
        return TestModels.all().stream().map(name -> Arguments.of(name));
    }

    /** Prompts of different lengths (so the batch is left-padded), ids valid in every test model. */
    static List<long[]> prompts() {
        return List.of(new long[] {5, 17, 42, 9, 33, 21, 7}, new long[] {8}, new long[] {3, 30, 11, 25});
    }

    private static CausalLm model(String name) {
        return TestModels.load(name);
    }

    private static long[][] tokens(List<Generation> gs) {
        return gs.stream().map(Generation::tokens).toArray(long[][]::new);
    }

    private static GenerationOptions greedy(int n) {
        return GenerationOptions.defaults().maxNewTokens(n).stopTokens();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void greedyWithCacheEqualsWithout(String name) {
        CausalLm lm = model(name);
        Generator g = new Generator(lm);
        List<Generation> cached = g.generate(prompts(), greedy(12));
        List<Generation> full = g.generate(prompts(), greedy(12).useCache(false));
        assertArrayEquals(tokens(full), tokens(cached));
        for (Generation x : cached) {
            assertEquals(12, x.tokens().length);
            assertEquals(StopReason.MAX_NEW_TOKENS, x.reason());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void batchedEqualsOneByOne(String name) {
        Generator g = new Generator(model(name));
        List<Generation> batched = g.generate(prompts(), greedy(10));
        for (int i = 0; i < prompts().size(); i++) {
            assertArrayEquals(g.generate(prompts().get(i), greedy(10)).tokens(), batched.get(i).tokens(),
                    "prompt " + i);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void samplingWithASeedRepeats(String name) {
        Generator g = new Generator(model(name));
        GenerationOptions sampling = greedy(12).temperature(1.3).topP(0.95).seed(1234);
        long[][] first = tokens(g.generate(prompts(), sampling));
        assertArrayEquals(first, tokens(g.generate(prompts(), sampling)), "same seed");
        assertArrayEquals(first, tokens(g.generate(prompts(), sampling.useCache(false))), "same seed, no cache");
        assertFalse(Arrays.deepEquals(first, tokens(g.generate(prompts(), sampling.seed(99)))), "other seed");
        assertFalse(Arrays.deepEquals(first, tokens(g.generate(prompts(), greedy(12)))), "sampling is not greedy");
        // a sequence's draws do not depend on the others: the first prompt alone with the same seed
        assertArrayEquals(first[0], g.generate(prompts().get(0), sampling).tokens());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void aVanishingNucleusIsGreedy(String name) {
        Generator g = new Generator(model(name));
        assertArrayEquals(tokens(g.generate(prompts(), greedy(10))),
                tokens(g.generate(prompts(), greedy(10).temperature(5.0).topP(1e-9).seed(7))));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void aStopTokenEndsItsOwnSequenceOnly(String name) {
        Generator g = new Generator(model(name));
        List<Generation> free = g.generate(prompts(), greedy(10));
        long stop = free.get(0).tokens()[3];
        int firstStop = 0;
        while (free.get(0).tokens()[firstStop] != stop) {
            firstStop++;
        }
        List<Generation> stopped = g.generate(prompts(), greedy(10).stopTokens(stop));
        assertEquals(StopReason.STOP_TOKEN, stopped.get(0).reason());
        assertEquals(stop, stopped.get(0).stopToken());
        assertArrayEquals(Arrays.copyOf(free.get(0).tokens(), firstStop), stopped.get(0).tokens());
        for (int i = 1; i < free.size(); i++) {
            long[] expected = free.get(i).tokens();
            int end = 0;
            while (end < expected.length && expected[end] != stop) {
                end++;
            }
            assertArrayEquals(Arrays.copyOf(expected, end), stopped.get(i).tokens(), "prompt " + i);
            assertEquals(end < expected.length ? StopReason.STOP_TOKEN : StopReason.MAX_NEW_TOKENS,
                    stopped.get(i).reason());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void stopsAtTheModelsEosByDefault(String name) {
        CausalLm lm = model(name);
        long eos = lm.config().eosTokenIds().get(0);
        Generator g = new Generator(lm);
        for (Generation x : g.generate(prompts(), GenerationOptions.defaults().maxNewTokens(20))) {
            for (long t : x.tokens()) {
                assertNotEquals(eos, t);
            }
            assertTrue(x.reason() == StopReason.MAX_NEW_TOKENS ? x.tokens().length == 20 : x.stopToken() == eos);
        }
    }

    @Test
    void zeroNewTokensAndEmptyBatch() {
        Generator g = new Generator(new ToyLm(1));
        for (Generation x : g.generate(prompts(), greedy(0))) {
            assertEquals(0, x.tokens().length);
        }
        assertEquals(0, g.generate(new ArrayList<>(), greedy(5)).size());
    }

    @Test
    void badPromptsAreRefused() {
        Generator g = new Generator(new ToyLm(1));
        assertThrows(IllegalArgumentException.class, () -> g.generate(new long[0], greedy(3)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> g.generate(new long[] {1, ToyLm.VOCAB}, greedy(3)));
        assertTrue(e.getMessage().contains("vocabulary"), e.getMessage());
        // a prompt that fills the context (ToyLm's 64 positions) leaves no room for a token
        long[] full = ids(64, 0);
        e = assertThrows(IllegalArgumentException.class, () -> g.generate(full, greedy(3)));
        assertTrue(e.getMessage().contains("64 tokens") && e.getMessage().contains("max_position_embeddings"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> g.generate(List.of(new long[] {5}, ids(70, 1)), greedy(3)));
        assertTrue(e.getMessage().startsWith("prompt 1 is 70 tokens"), e.getMessage());
    }

    /** {@code n} valid ids in every test model (below ToyLm's vocabulary of 50), different for each salt. */
    private static long[] ids(int n, int salt) {
        long[] p = new long[n];
        for (int i = 0; i < n; i++) {
            p[i] = 3 + (7L * i + 13L * salt) % 45;
        }
        return p;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void sequencesStopAtTheContextLimitEachAtItsOwnStep(String name) {
        CausalLm lm = model(name);
        int context = lm.config().maxPositionEmbeddings();
        Generator g = new Generator(lm);
        // left-padded to the longest; they reach the context after 3, 9 and (not at all) 20 new tokens
        List<long[]> prompts = List.of(ids(context - 9, 1), ids(context - 3, 2), ids(5, 3), ids(context - 20, 4));
        List<Generation> cached = g.generate(prompts, greedy(20));
        assertArrayEquals(tokens(g.generate(prompts, greedy(20).useCache(false))), tokens(cached), "no cache");
        int[] expected = {9, 3, 20, 20};
        StopReason[] reasons = {StopReason.CONTEXT_LIMIT, StopReason.CONTEXT_LIMIT, StopReason.MAX_NEW_TOKENS,
            StopReason.MAX_NEW_TOKENS}; // the last fills the context exactly: it got all it asked for
        for (int i = 0; i < prompts.size(); i++) {
            assertEquals(expected[i], cached.get(i).tokens().length, "prompt " + i);
            assertEquals(reasons[i], cached.get(i).reason(), "prompt " + i);
            Generation alone = g.generate(prompts.get(i), greedy(20));
            assertArrayEquals(alone.tokens(), cached.get(i).tokens(), "prompt " + i + " alone");
            assertEquals(reasons[i], alone.reason(), "prompt " + i + " alone");
        }
        // sampling: the same draws batched as alone
        GenerationOptions sampling = greedy(20).temperature(1.3).seed(5);
        List<Generation> sampled = g.generate(prompts, sampling);
        assertArrayEquals(tokens(sampled), tokens(g.generate(prompts, sampling.useCache(false))), "sampled");
        assertEquals(StopReason.CONTEXT_LIMIT, sampled.get(1).reason());
        assertEquals(3, sampled.get(1).tokens().length);
    }

    @Test
    void aFinishedSequenceIsFedNoPositionPastTheContext() {
        // ToyLm refuses a real position >= 64; the short prompt keeps the batch going 30 steps after the long one
        // has filled the context
        ToyLm lm = new ToyLm(3);
        List<Generation> out = new Generator(lm).generate(List.of(ids(62, 1), ids(2, 2)), greedy(32));
        assertEquals(StopReason.CONTEXT_LIMIT, out.get(0).reason());
        assertEquals(2, out.get(0).tokens().length);
        assertEquals(32, out.get(1).tokens().length);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void theModelIsBackInItsModeAfterwardsEvenAfterAGarbageCollection(String name) throws InterruptedException {
        CausalLm lm = model(name);
        Generator g = new Generator(lm);
        // Switching modes calls into every submodule: each must still be reachable from Java after a collection.
        System.gc();
        Thread.sleep(50);
        lm.module().train(true);
        g.generate(prompts(), greedy(2));
        assertTrue(lm.module().is_training());
        lm.module().eval();
        g.generate(prompts(), greedy(2));
        assertFalse(lm.module().is_training());
    }

    @Test
    void theCacheFeedsOneTokenPerStep() {
        ToyLm lm = new ToyLm(1);
        new Generator(lm).generate(prompts(), greedy(6));
        // one call for the prompts, then one per new token except the last, which needs no forward
        assertEquals(6, lm.forwardCalls);
    }

    @Test
    void samplingFollowsTheNucleus() {
        float[] logits = {3, 2, 1, 0};
        SplittableRandom random = new SplittableRandom(3);
        int[] counts = new int[4];
        for (int i = 0; i < 20000; i++) {
            counts[Generator.sample(logits, 0, 4, 1.0, 0.7, random)]++;
        }
        // softmax = [0.644, 0.237, 0.087, 0.032]: the nucleus of 0.7 is {0, 1}, renormalised to [0.731, 0.269]
        assertEquals(0, counts[2] + counts[3]);
        assertEquals(0.731, counts[0] / 20000.0, 0.015);

        counts = new int[4];
        for (int i = 0; i < 20000; i++) {
            counts[Generator.sample(logits, 0, 4, 2.0, 1.0, random)]++;
        }
        double[] p = {Math.exp(1.5), Math.exp(1.0), Math.exp(0.5), 1};
        double sum = Arrays.stream(p).sum();
        for (int v = 0; v < 4; v++) {
            assertEquals(p[v] / sum, counts[v] / 20000.0, 0.015, "token " + v);
        }
    }

    @Test
    void argmaxTakesTheFirstOfEqualMaxima() {
        assertEquals(1, Generator.argmax(new float[] {0, 5, 5, Float.NaN}, 0, 4));
        assertEquals(1, Generator.argmax(new float[] {9, 0, 7, 5}, 1, 3));
    }
}
