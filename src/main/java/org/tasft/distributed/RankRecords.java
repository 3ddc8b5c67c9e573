package org.tasft.distributed;

import java.util.LinkedHashMap;
import java.util.Map;

import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.StringVector;

/**
 * The ranks' health records in the store ({@link StoreKeys}), read and written through one connection: heartbeats,
 * the collective each rank last entered, and the failures they reported. The main thread and the {@link Watchdog} use
 * one each, so that a heartbeat never waits behind a blocked call.
 */
final class RankRecords implements FailureDiagnosis.Peers {
    private final Store store;
    private final int rank;
    private final int worldSize;

    RankRecords(Store store, int rank, int worldSize) {
        this.store = store;
        this.rank = rank;
        this.worldSize = worldSize;
    }

    /** The same records through a new connection to the store, whose calls give up after {@code timeoutMillis}. */
    RankRecords ownConnection(long timeoutMillis) {
        Store own = store.clone();
        own.setTimeout(new Milliseconds(timeoutMillis));
        return new RankRecords(own, rank, worldSize);
    }

    /** Gives up on calls after {@code millis} (a failing rank must not wait long on a store that may be gone). */
    void setTimeout(long millis) {
        store.setTimeout(new Milliseconds(millis));
    }

    /** This rank's heartbeat starts at 0, so the others can read it before the first beat. */
    void register() {
        store.set(StoreKeys.alive(rank), "0");
    }

    void beat() {
        store.add(StoreKeys.alive(rank), 1);
    }

    void entering(long sequence, String what) {
        store.set(StoreKeys.progress(rank), sequence + "\t" + what);
    }

    /** Records why this rank failed and counts it where the other ranks' watchdogs look. */
    void reportFailure(String why) {
        store.set(StoreKeys.failed(rank), why);
        store.add(StoreKeys.failures(), 1);
    }

    /** How many ranks have reported a failure. */
    long failureCount() {
        return store.add(StoreKeys.failures(), 0);
    }

    @Override
    public Map<Integer, String> failures() {
        Map<Integer, String> out = new LinkedHashMap<>();
        for (int r = 0; r < worldSize; r++) {
            if (r != rank && store.check(new StringVector(StoreKeys.failed(r)))) {
                out.put(r, store.get_to_str(StoreKeys.failed(r)));
            }
        }
        return out;
    }

    @Override
    public long[] heartbeats() {
        long[] beats = new long[worldSize];
        for (int r = 0; r < beats.length; r++) {
            beats[r] = r == rank ? 0 : store.add(StoreKeys.alive(r), 0);
        }
        return beats;
    }

    @Override
    public String progress(int r) {
        return store.check(new StringVector(StoreKeys.progress(r))) ? store.get_to_str(StoreKeys.progress(r)) : null;
    }
}
