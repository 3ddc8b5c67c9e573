package org.tasft.distributed;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Names the rank behind a failed collective. Gloo and NCCL report a dead peer as "connection closed" and a hung one
 * as a timeout, without saying which rank, so the verdict comes from the ranks' records ({@link RankRecords}), in this
 * order: ranks that reported a failure; else ranks whose heartbeat stopped (exited or killed); else ranks still alive
 * that did not reach this collective (they hang or are slow).
 */
final class FailureDiagnosis {
    /** What the diagnosis reads about the ranks; {@link RankRecords} reads it from the store. */
    interface Peers {
        /** The failure each other rank reported, by rank in ascending order. */
        Map<Integer, String> failures();

        /** Every rank's heartbeat counter (this rank's: 0). */
        long[] heartbeats();

        /** Rank {@code r}'s last collective as "sequence TAB what", or null before its first. */
        String progress(int rank);
    }

    /** The ranks blamed (empty when none could be told) and why, as a clause of the error message. */
    record Verdict(List<Integer> blamed, String why) {
        Verdict {
            blamed = List.copyOf(blamed);
        }
    }

    private FailureDiagnosis() {
    }

    /**
     * The verdict on a collective that failed on rank {@code self}, its {@code sequence}-th; {@code heartbeatWait}
     * is how long to watch the heartbeats (a few beats), {@code timeout} the collective timeout the message quotes.
     */
    static Verdict diagnose(Peers peers, int self, int worldSize, long sequence, Duration timeout,
            Duration heartbeatWait) {
        List<Integer> blamed = new ArrayList<>();
        List<String> reasons = new ArrayList<>();
        for (Map.Entry<Integer, String> f : peers.failures().entrySet()) {
            blamed.add(f.getKey());
            reasons.add("rank " + f.getKey() + " failed: " + f.getValue());
        }
        if (!blamed.isEmpty()) {
            return new Verdict(blamed, String.join("; ", reasons));
        }
        long[] before = peers.heartbeats();
        sleep(heartbeatWait);
        long[] after = peers.heartbeats();
        for (int r = 0; r < worldSize; r++) {
            if (r != self && after[r] == before[r]) {
                blamed.add(r);
                reasons.add("rank " + r + " has stopped (no heartbeat: it exited or was killed)");
            }
        }
        if (!blamed.isEmpty()) {
            return new Verdict(blamed, String.join("; ", reasons));
        }
        for (int r = 0; r < worldSize; r++) {
            if (r == self) {
                continue;
            }
            String p = peers.progress(r);
            String[] parts = (p == null ? "0\tnothing yet" : p).split("\t", 2);
            if (Long.parseLong(parts[0]) < sequence) {
                blamed.add(r);
                reasons.add("rank " + r + " is alive but did not arrive within " + timeout.toSeconds()
                        + " s (it hangs or is slow; its last collective: " + parts[1] + ")");
            }
        }
        if (!blamed.isEmpty()) {
            return new Verdict(blamed, String.join("; ", reasons));
        }
        return new Verdict(List.of(), "no other rank reported a problem");
    }

    /** The verdict when the store itself does not answer: rank 0, its host, is gone (unless this is rank 0). */
    static Verdict storeUnreachable(LaunchEnvironment env) {
        if (env.rank() == 0) {
            return new Verdict(List.of(), "the rendezvous store does not answer");
        }
        return new Verdict(List.of(0), "rank 0 has stopped (its rendezvous store " + env.masterAddr() + ":"
                + env.masterPort() + " is unreachable)");
    }

    /** "rank R: WHAT failed: WHY [LIBRARY: the backend's own message]". */
    static String message(int rank, String what, Verdict verdict, String library, Throwable cause) {
        return "rank " + rank + ": " + what + " failed: " + verdict.why() + " [" + library + ": "
                + C10dErrors.shortMessage(cause) + "]";
    }

    private static void sleep(Duration d) {
        if (d.isZero()) {
            return;
        }
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
