package org.tasft.distributed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

class FailureDiagnosisTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(4);

    /** Records as a test sets them: heartbeat readings in order, progress by rank. */
    private static final class FakePeers implements FailureDiagnosis.Peers {
        final Map<Integer, String> failures = new HashMap<>();
        final Deque<long[]> heartbeats = new ArrayDeque<>();
        final Map<Integer, String> progress = new HashMap<>();

        @Override
        public Map<Integer, String> failures() {
            return failures;
        }

        @Override
        public long[] heartbeats() {
            if (heartbeats.isEmpty()) {
                fail("heartbeats read when the verdict was already clear");
            }
            return heartbeats.poll();
        }

        @Override
        public String progress(int rank) {
            return progress.get(rank);
        }
    }

    private static FailureDiagnosis.Verdict diagnose(FakePeers peers, int self, int world, long sequence) {
        return FailureDiagnosis.diagnose(peers, self, world, sequence, TIMEOUT, Duration.ZERO);
    }

    @Test
    void aReportedFailureIsBlamedFirst() {
        FakePeers peers = new FakePeers();
        peers.failures.put(2, "step 3: out of memory");
        FailureDiagnosis.Verdict v = diagnose(peers, 0, 3, 7);
        assertEquals(List.of(2), v.blamed());
        assertEquals("rank 2 failed: step 3: out of memory", v.why());
    }

    @Test
    void aRankWhoseHeartbeatStoppedHasStopped() {
        FakePeers peers = new FakePeers();
        peers.heartbeats.add(new long[] {0, 17, 20});
        peers.heartbeats.add(new long[] {0, 17, 23});
        FailureDiagnosis.Verdict v = diagnose(peers, 0, 3, 7);
        assertEquals(List.of(1), v.blamed());
        assertEquals("rank 1 has stopped (no heartbeat: it exited or was killed)", v.why());
    }

    @Test
    void aLiveRankBehindInCollectivesHangs() {
        FakePeers peers = new FakePeers();
        peers.heartbeats.add(new long[] {10, 0, 20});
        peers.heartbeats.add(new long[] {12, 0, 22});
        peers.progress.put(0, "7\tstep 3's gradient all-reduce");
        peers.progress.put(2, "6\tsum of 4 value(s)");
        FailureDiagnosis.Verdict v = diagnose(peers, 1, 3, 7);
        assertEquals(List.of(2), v.blamed());
        assertEquals("rank 2 is alive but did not arrive within 4 s (it hangs or is slow; its last collective: "
                + "sum of 4 value(s))", v.why());
    }

    @Test
    void aRankThatNeverEnteredACollectiveHasDoneNothingYet() {
        FakePeers peers = new FakePeers();
        peers.heartbeats.add(new long[] {0, 1});
        peers.heartbeats.add(new long[] {0, 2});
        FailureDiagnosis.Verdict v = diagnose(peers, 0, 2, 1);
        assertEquals("rank 1 is alive but did not arrive within 4 s (it hangs or is slow; its last collective: "
                + "nothing yet)", v.why());
    }

    @Test
    void noCulpritIsSaid() {
        FakePeers peers = new FakePeers();
        peers.heartbeats.add(new long[] {0, 1});
        peers.heartbeats.add(new long[] {0, 2});
        peers.progress.put(1, "5\tthe final barrier");
        FailureDiagnosis.Verdict v = diagnose(peers, 0, 2, 5);
        assertEquals(List.of(), v.blamed());
        assertEquals("no other rank reported a problem", v.why());
    }

    @Test
    void anUnreachableStoreMeansRankZeroHasStopped() {
        FailureDiagnosis.Verdict v = FailureDiagnosis.storeUnreachable(new LaunchEnvironment(1, 2, 1, 2,
                "127.0.0.1", 29500));
        assertEquals(List.of(0), v.blamed());
        assertEquals("rank 0 has stopped (its rendezvous store 127.0.0.1:29500 is unreachable)", v.why());
        v = FailureDiagnosis.storeUnreachable(new LaunchEnvironment(0, 2, 0, 2, "127.0.0.1", 29500));
        assertEquals(List.of(), v.blamed());
        assertEquals("the rendezvous store does not answer", v.why());
    }

    @Test
    void theMessageNamesTheCollectiveTheCulpritAndTheBackendsWords() {
        FailureDiagnosis.Verdict v = new FailureDiagnosis.Verdict(List.of(1),
                "rank 1 has stopped (no heartbeat: it exited or was killed)");
        assertEquals("rank 0: step 5's gradient all-reduce (gradient flags) failed: rank 1 has stopped (no "
                + "heartbeat: it exited or was killed) [gloo: Connection closed by peer [127.0.0.1]:41234]",
                FailureDiagnosis.message(0, "step 5's gradient all-reduce (gradient flags)", v, "gloo",
                        new RuntimeException("[/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:534] "
                                + "Connection closed by peer [127.0.0.1]:41234\nException raised from ...")));
    }
}
