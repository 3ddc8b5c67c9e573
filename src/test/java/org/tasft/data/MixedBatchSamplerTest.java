package org.tasft.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import org.junit.jupiter.api.Test;

class MixedBatchSamplerTest {
    /** Safe items 0..102 (103: not a multiple of K, so epochs drop a remainder), harmful items 1000..1049. */
    private static final List<Integer> SAFE = IntStream.range(0, 103).boxed().collect(Collectors.toList());
    private static final List<Integer> HARMFUL = IntStream.range(1000, 1050).boxed().collect(Collectors.toList());

    private static MixedBatchSampler.Builder<Integer> config() {
        return MixedBatchSampler.builder(SAFE, HARMFUL).batchSize(8).safePerBatch(6).harmfulCount(10).seed(42);
    }

    private static List<MixedBatchSampler.Step<Integer>> draw(MixedBatchSampler<Integer> sampler, int steps) {
        List<MixedBatchSampler.Step<Integer>> out = new ArrayList<>();
        for (int i = 0; i < steps; i++) {
            out.add(sampler.next());
        }
        return out;
    }

    @Test
    void theSameSeedGivesTheSameBatchesAndAnotherSeedOthers() {
        List<MixedBatchSampler.Step<Integer>> a = draw(config().build(), 60);
        assertEquals(a, draw(config().build(), 60));
        assertNotEquals(a, draw(config().seed(43).build(), 60));
    }

    @Test
    void everyBatchHasKSafeAndBMinusKHarmfulAndEpochsReshuffle() {
        MixedBatchSampler<Integer> sampler = config().build();
        assertEquals(103 / 6, sampler.stepsPerEpoch());
        Set<Integer> subset = new HashSet<>(sampler.harmfulSubset());
        List<List<Integer>> epochOrders = new ArrayList<>();
        Map<Integer, Integer> harmfulUses = new HashMap<>();
        for (int epoch = 0; epoch < 3; epoch++) {
            List<Integer> seen = new ArrayList<>();
            for (int s = 0; s < sampler.stepsPerEpoch(); s++) {
                MixedBatchSampler.Step<Integer> step = sampler.next();
                assertEquals(new MixedBatchSampler.Position(epoch, s), step.position());
                assertEquals(6, step.safe().size());
                assertEquals(2, step.harmful().size());
                assertTrue(SAFE.containsAll(step.safe()));
                assertTrue(subset.containsAll(step.harmful()), "only the selected harmful examples");
                step.harmful().forEach(h -> harmfulUses.merge(h, 1, Integer::sum));
                seen.addAll(step.safe());
                assertEquals(8, step.items().size());
                assertEquals(step.safe(), step.items().subList(0, 6));
            }
            assertEquals(102, new HashSet<>(seen).size(), "an epoch uses distinct safe examples");
            epochOrders.add(seen);
        }
        assertNotEquals(epochOrders.get(0), epochOrders.get(1));
        assertNotEquals(epochOrders.get(1), epochOrders.get(2));
        // 3 * 17 steps * 2 = 102 harmful draws over 10 examples read in whole cycles: each used 10 or 11 times
        assertEquals(subset, harmfulUses.keySet());
        assertTrue(harmfulUses.values().stream().allMatch(n -> n == 10 || n == 11), harmfulUses.toString());
    }

    @Test
    void harmfulSubsetsNestForOneSeed() {
        List<Integer> s10 = config().harmfulCount(10).build().harmfulSubset();
        List<Integer> s30 = config().harmfulCount(30).build().harmfulSubset();
        List<Integer> s50 = config().harmfulCount(50).build().harmfulSubset();
        assertEquals(10, s10.size());
        assertEquals(s10, s30.subList(0, 10));
        assertEquals(s30, s50.subList(0, 30));
        assertEquals(new HashSet<>(HARMFUL), new HashSet<>(s50));
        assertNotEquals(HARMFUL.subList(0, 10), s10, "a shuffle, not the file's first examples");
        // the training seed can change while the selection stays
        assertEquals(s10, config().seed(7).selectionSeed(42).build().harmfulSubset());
        assertNotEquals(s10, config().seed(7).build().harmfulSubset());
        assertEquals(s30, MixedBatchSampler.harmfulSubset(HARMFUL, 30, 42));
    }

    @Test
    void withoutHarmfulDataEveryBatchIsSafe() {
        MixedBatchSampler<Integer> sampler = MixedBatchSampler.builder(SAFE, List.<Integer>of()).batchSize(8)
                .seed(1).build();
        assertEquals(8, sampler.safePerBatch());
        MixedBatchSampler.Step<Integer> step = sampler.next();
        assertEquals(8, step.safe().size());
        assertTrue(step.harmful().isEmpty());
        MixedBatchSampler<Integer> zero = config().harmfulCount(0).safePerBatch(8).build();
        assertTrue(zero.next().harmful().isEmpty());
    }

    @Test
    void harmfulOnlyBatchesForGradientAscent() {
        MixedBatchSampler<Integer> sampler = config().safePerBatch(0).harmfulCount(20).build();
        assertEquals(20 / 8, sampler.stepsPerEpoch());
        MixedBatchSampler.Step<Integer> step = sampler.next();
        assertTrue(step.safe().isEmpty());
        assertEquals(8, step.harmful().size());
    }

    @Test
    void resumingFromASavedPositionGivesTheUninterruptedSequence() {
        List<MixedBatchSampler.Step<Integer>> uninterrupted = draw(config().build(), 100);
        for (int stop : new int[] {0, 1, 16, 17, 18, 37, 99}) {
            MixedBatchSampler<Integer> first = config().build();
            List<MixedBatchSampler.Step<Integer>> run = new ArrayList<>(draw(first, stop));
            MixedBatchSampler.Position saved = first.position();
            run.addAll(draw(config().startAt(saved).build(), 100 - stop));
            assertEquals(uninterrupted, run, "resumed after " + stop + " steps at " + saved);
        }
        // seek on a sampler that has already moved elsewhere
        MixedBatchSampler<Integer> sampler = config().build();
        draw(sampler, 55);
        sampler.seek(uninterrupted.get(20).position());
        assertEquals(uninterrupted.subList(20, 40), draw(sampler, 20));
        assertThrows(IllegalArgumentException.class, () -> sampler.seek(new MixedBatchSampler.Position(0, 17)));
        assertThrows(IllegalArgumentException.class, () -> new MixedBatchSampler.Position(-1, 0));
    }

    @Test
    void shardsPartitionEachBatch() {
        List<MixedBatchSampler.Step<Integer>> full = draw(config().build(), 40);
        for (int world : new int[] {1, 2, 4, 8}) {
            List<MixedBatchSampler<Integer>> ranks = new ArrayList<>();
            MixedBatchSampler<Integer> base = config().build();
            for (int r = 0; r < world; r++) {
                ranks.add(base.sharded(r, world));
            }
            for (MixedBatchSampler.Step<Integer> expected : full) {
                List<Integer> union = new ArrayList<>();
                int harmful = 0;
                for (MixedBatchSampler<Integer> rank : ranks) {
                    MixedBatchSampler.Step<Integer> part = rank.next();
                    assertEquals(expected.position(), part.position());
                    assertEquals(8 / world, part.size(), "equal parts");
                    assertTrue(expected.safe().containsAll(part.safe()));
                    assertTrue(expected.harmful().containsAll(part.harmful()));
                    union.addAll(part.items());
                    harmful += part.harmful().size();
                }
                assertEquals(2, harmful);
                union.sort(null);
                List<Integer> all = new ArrayList<>(expected.items());
                all.sort(null);
                assertEquals(all, union, "world " + world + " at " + expected.position());
            }
        }
        // a resumed rank continues as if uninterrupted
        MixedBatchSampler<Integer> rank1 = config().build().sharded(1, 2);
        draw(rank1, 23);
        MixedBatchSampler.Position saved = rank1.position();
        List<MixedBatchSampler.Step<Integer>> rest = draw(rank1, 10);
        assertEquals(rest, draw(config().startAt(saved).build().sharded(1, 2), 10));

        MixedBatchSampler<Integer> sampler = config().build();
        assertThrows(IllegalArgumentException.class, () -> sampler.sharded(0, 3), "8 is not a multiple of 3");
        assertThrows(IllegalArgumentException.class, () -> sampler.sharded(2, 2));
        assertThrows(IllegalStateException.class, () -> sampler.sharded(0, 2).sharded(0, 2));
    }

    @Test
    void badConfigurationsAreErrors() {
        assertThrows(IllegalArgumentException.class,
                () -> MixedBatchSampler.builder(SAFE, HARMFUL).batchSize(8).build(), "K must be given");
        assertThrows(IllegalArgumentException.class, () -> config().harmfulCount(51).build());
        assertThrows(IllegalArgumentException.class, () -> config().safePerBatch(9).build());
        assertThrows(IllegalArgumentException.class, () -> config().batchSize(0).build());
        assertThrows(IllegalArgumentException.class, () -> config().harmfulCount(0).build(), "K < B, no harmful");
        assertThrows(IllegalArgumentException.class,
                () -> MixedBatchSampler.builder(List.of(1, 2), List.<Integer>of()).batchSize(3).build());
    }
}
