package org.tasft.distributed;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.StringVector;

/**
 * Checks that every rank runs with the same value (the trainer passes its options), through the store: each rank puts
 * its value, rank 0 compares them with its own and posts a verdict, and every rank reads that verdict, so that all of
 * them fail together, naming the ranks that differ.
 */
final class ConfigCheck {
    private final Store store;
    private final int rank;
    private final int worldSize;
    private final Duration timeout;
    private int checks;

    ConfigCheck(Store store, int rank, int worldSize, Duration timeout) {
        this.store = store;
        this.rank = rank;
        this.worldSize = worldSize;
        this.timeout = timeout;
    }

    /**
     * Returns when every rank passed the same {@code value}; a difference is an {@link IllegalArgumentException} on
     * every rank ({@link #mismatch}). The store's own errors (a rank that never comes, rank 0 gone) pass through.
     */
    void check(String what, String value) {
        int n = checks++;
        store.set(StoreKeys.checkValue(n, rank), value);
        if (rank == 0) {
            List<String> keys = new ArrayList<>();
            for (int r = 0; r < worldSize; r++) {
                keys.add(StoreKeys.checkValue(n, r));
            }
            store._wait(new StringVector(keys.toArray(new String[0])), new Milliseconds(timeout.toMillis()));
            List<String> values = new ArrayList<>();
            for (String key : keys) {
                values.add(store.get_to_str(key));
            }
            store.set(StoreKeys.checkVerdict(n), verdict(values));
        }
        store._wait(new StringVector(StoreKeys.checkVerdict(n)), new Milliseconds(timeout.toMillis()));
        String verdict = store.get_to_str(StoreKeys.checkVerdict(n));
        if (!verdict.equals("ok")) {
            throw mismatch(what, verdict);
        }
    }

    /** Rank 0's verdict on the ranks' values (rank 0's first): "ok", or the ranks that differ from rank 0, "1, 3". */
    static String verdict(List<String> values) {
        List<Integer> differ = new ArrayList<>();
        for (int r = 1; r < values.size(); r++) {
            if (!values.get(r).equals(values.get(0))) {
                differ.add(r);
            }
        }
        return differ.isEmpty() ? "ok" : differ.stream().map(String::valueOf).collect(Collectors.joining(", "));
    }

    static IllegalArgumentException mismatch(String what, String differingRanks) {
        return new IllegalArgumentException("rank(s) " + differingRanks + " run with other " + what
                + " than rank 0: every rank must get the same command line");
    }
}
