package org.tasft.distributed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.bytedeco.pytorch.TCPStore;
import org.junit.jupiter.api.Test;

class WatchdogTest {
    private static final long SECOND = 1_000_000_000L;

    @Test
    void theGraceStartsAtTheFirstSightingOfAFailure() {
        Watchdog.Grace grace = new Watchdog.Grace(Duration.ofSeconds(10));
        assertFalse(grace.expired(0, false, 0));
        assertFalse(grace.expired(0, false, 100 * SECOND)); // nobody failed: never
        assertFalse(grace.expired(1, false, 100 * SECOND)); // first sighting
        assertFalse(grace.expired(1, false, 110 * SECOND)); // 10 s: not yet
        assertTrue(grace.expired(1, false, 110 * SECOND + 1));
    }

    @Test
    void aFailingRankIsLeftToStopByItself() {
        Watchdog.Grace grace = new Watchdog.Grace(Duration.ofSeconds(10));
        assertFalse(grace.expired(1, true, 0));
        assertFalse(grace.expired(1, true, 100 * SECOND));
    }

    @Test
    void aRankStuckOutsideACollectiveIsStoppedOnceAnotherRankFailed() throws InterruptedException {
        try (TCPStore store = LocalStore.open(2)) {
            RankHealth rank1 = health(store, 1);
            rank1.doing("writing checkpoint-3");
            BlockingQueue<String> halts = new LinkedBlockingQueue<>();
            Watchdog watchdog = new Watchdog(rank1, Duration.ofMillis(20), Duration.ofMillis(200), halts::add);
            watchdog.start();
            try {
                RankRecords rank0 = new RankRecords(store, 0, 2);
                long deadline = System.nanoTime() + 5 * SECOND;
                while (rank0.heartbeats()[1] == 0 && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                assertTrue(rank0.heartbeats()[1] > 0, "no heartbeat");
                assertNull(halts.poll(300, TimeUnit.MILLISECONDS), "halted with nobody failing");
                rank0.reportFailure("step 3: boom");
                assertEquals("another rank failed (rank 0: step 3: boom); stopping rank 1, which was in: writing "
                        + "checkpoint-3", halts.poll(5, TimeUnit.SECONDS));
            } finally {
                watchdog.stop();
            }
        }
    }

    @Test
    void aRankThatFailsItselfIsNotHalted() throws InterruptedException {
        try (TCPStore store = LocalStore.open(2)) {
            RankHealth rank1 = health(store, 1);
            rank1.markFailing();
            BlockingQueue<String> halts = new LinkedBlockingQueue<>();
            Watchdog watchdog = new Watchdog(rank1, Duration.ofMillis(20), Duration.ofMillis(100), halts::add);
            watchdog.start();
            try {
                new RankRecords(store, 0, 2).reportFailure("boom");
                assertNull(halts.poll(600, TimeUnit.MILLISECONDS));
            } finally {
                watchdog.stop();
            }
        }
    }

    private static RankHealth health(TCPStore store, int rank) {
        RankHealth h = new RankHealth(new RankRecords(store.clone(), rank, 2), LocalStore.rank(rank, 2, store),
                Duration.ofSeconds(4));
        h.register();
        return h;
    }
}
