package org.tasft.distributed;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A daemon thread per rank, on a store connection of its own: it beats this rank's heartbeat, and halts the JVM when
 * this rank must stop but cannot find out by itself: another rank has failed and this one, not failing, has not
 * noticed within {@code stuckAfter} (it is stuck outside a collective, where no timeout fires), or rank 0's store is
 * gone (rank 0 has stopped). Halting, not an exception: the main thread may be blocked in native code.
 */
final class Watchdog {
    /** Another rank's failure goes unanswered this long before the watchdog stops this rank. */
    static final Duration STUCK_AFTER = RankHealth.HEARTBEAT.multipliedBy(10);

    /** Stops this process with a last error line; tests pass one that records instead. */
    @FunctionalInterface
    interface Halt {
        void halt(String message);
    }

    static final Halt HALT_JVM = message -> {
        System.err.println("tasft train: error: " + message);
        System.err.flush();
        Runtime.getRuntime().halt(1);
    };

    /**
     * When another rank's failure has gone unanswered long enough: from the first beat that sees a failure count while
     * this rank is not failing, longer than {@code stuckAfter}.
     */
    static final class Grace {
        private final long stuckAfterNanos;
        private boolean seen;
        private long firstSeen;

        Grace(Duration stuckAfter) {
            this.stuckAfterNanos = stuckAfter.toNanos();
        }

        boolean expired(long failures, boolean failing, long nowNanos) {
            if (failures == 0 || failing) {
                return false;
            }
            if (!seen) {
                seen = true;
                firstSeen = nowNanos;
                return false;
            }
            return nowNanos - firstSeen > stuckAfterNanos;
        }
    }

    private final RankHealth health;
    private final Duration heartbeat;
    private final Duration stuckAfter;
    private final Halt halt;
    private final Thread thread;
    private volatile boolean closing;

    Watchdog(RankHealth health, Duration heartbeat, Duration stuckAfter, Halt halt) {
        this.health = health;
        this.heartbeat = heartbeat;
        this.stuckAfter = stuckAfter;
        this.halt = halt;
        this.thread = new Thread(this::watch, "tasft-rank-" + health.environment().rank() + "-watchdog");
        thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /** Ends the thread (within 5 s); from now on it halts nothing. */
    void stop() {
        closing = true;
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void watch() {
        LaunchEnvironment env = health.environment();
        RankRecords own;
        try {
            own = health.records().ownConnection(RankHealth.STORE_TIMEOUT_WHEN_FAILING.toMillis());
        } catch (RuntimeException e) {
            return;
        }
        Grace grace = new Grace(stuckAfter);
        while (!closing) {
            try {
                own.beat();
                if (grace.expired(own.failureCount(), health.failing(), System.nanoTime())) {
                    List<String> who = new ArrayList<>();
                    for (Map.Entry<Integer, String> f : own.failures().entrySet()) {
                        who.add("rank " + f.getKey() + ": " + f.getValue());
                    }
                    halt("another rank failed (" + String.join("; ", who) + "); stopping rank " + env.rank()
                            + ", which was in: " + health.current());
                }
            } catch (RuntimeException e) {
                if (env.rank() != 0) {
                    halt("rank 0 has stopped (its rendezvous store " + env.masterAddr() + ":" + env.masterPort()
                            + " is unreachable); stopping rank " + env.rank());
                }
                if (closing || health.failing()) {
                    return;
                }
            }
            try {
                Thread.sleep(heartbeat.toMillis());
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    // A rank that is closing or failing stops by itself: never halt it on top.
    private void halt(String message) {
        if (closing || health.failing()) {
            return;
        }
        halt.halt(message);
    }
}
