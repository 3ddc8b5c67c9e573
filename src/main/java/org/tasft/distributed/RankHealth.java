package org.tasft.distributed;

import java.time.Duration;

/**
 * This rank's health as the others see it, and its verdict on theirs: it records in the store the collective it
 * enters, reports its own failure, and turns a failed collective's nameless error into a {@link RankFailureException}
 * that names the culprit ({@link FailureDiagnosis}). Its heartbeat is the {@link Watchdog}'s.
 */
final class RankHealth {
    static final Duration HEARTBEAT = Duration.ofSeconds(1);
    /** How long a failing rank waits on the store, which may be gone with rank 0. */
    static final Duration STORE_TIMEOUT_WHEN_FAILING = Duration.ofSeconds(3);

    private final RankRecords records;
    private final LaunchEnvironment env;
    private final Duration timeout;
    private long sequence;
    private volatile String current = "start";
    private volatile boolean failing;
    private volatile String library = "c10d";

    /**
     * @param timeout the collective timeout, which the diagnosis of a hung rank quotes
     */
    RankHealth(RankRecords records, LaunchEnvironment env, Duration timeout) {
        this.records = records;
        this.env = env;
        this.timeout = timeout;
    }

    RankRecords records() {
        return records;
    }

    LaunchEnvironment environment() {
        return env;
    }

    /** Before the rendezvous: a heartbeat of 0 that the others can read. */
    void register() {
        records.register();
    }

    /** This rank enters its next collective: recorded in the store, where a diagnosis compares the ranks' counts. */
    void entering(String what) {
        sequence++;
        current = what;
        records.entering(sequence, what);
    }

    /** What this rank is doing outside a collective (the error messages and the watchdog name it). */
    void doing(String what) {
        current = what;
    }

    String current() {
        return current;
    }

    /** The backend, once created, names itself in failure messages instead of "c10d". */
    void backendCreated(String name) {
        library = name;
    }

    /** Set once this rank fails: it then says no goodbye, and its watchdog stops nothing. */
    boolean failing() {
        return failing;
    }

    void markFailing() {
        failing = true;
    }

    /** Diagnoses {@code what}'s failure, tells the other ranks, and returns the exception to throw. */
    RankFailureException fail(String what, RuntimeException cause) {
        failing = true;
        FailureDiagnosis.Verdict verdict;
        try {
            records.setTimeout(STORE_TIMEOUT_WHEN_FAILING.toMillis());
            verdict = FailureDiagnosis.diagnose(records, env.rank(), env.worldSize(), sequence, timeout,
                    HEARTBEAT.multipliedBy(5).dividedBy(2));
        } catch (RuntimeException storeGone) {
            verdict = FailureDiagnosis.storeUnreachable(env);
        }
        RankFailureException e = new RankFailureException(FailureDiagnosis.message(env.rank(), what, verdict,
                library, cause), verdict.blamed(), cause);
        report(e);
        return e;
    }

    /** Tells the others that this rank failed and why (best effort: with the store gone they find out by themselves). */
    void report(RuntimeException e) {
        failing = true;
        try {
            records.setTimeout(STORE_TIMEOUT_WHEN_FAILING.toMillis());
            records.reportFailure(C10dErrors.oneLine(e));
        } catch (RuntimeException ignored) {
            // the store is gone: the others find out by themselves
        }
    }
}
