package org.tasft.distributed;

/**
 * What the ranks keep in rank 0's rendezvous store, all under {@code tasft/}: listed in one place so that the layout
 * reads at once and no two classes pick the same key.
 */
final class StoreKeys {
    private static final String PREFIX = "tasft/";

    private StoreKeys() {
    }

    /** "host pid N": rank {@code r} has joined ({@link Rendezvous}). */
    static String join(int rank) {
        return PREFIX + "join/" + rank;
    }

    /** A counter that rank {@code r}'s {@link Watchdog} bumps every second ({@link RankRecords}). */
    static String alive(int rank) {
        return PREFIX + "alive/" + rank;
    }

    /** "sequence TAB what": the last collective rank {@code r} entered. */
    static String progress(int rank) {
        return PREFIX + "progress/" + rank;
    }

    /** Why rank {@code r} failed, in one line. */
    static String failed(int rank) {
        return PREFIX + "failed/" + rank;
    }

    /** How many ranks have reported a failure: the one key every watchdog polls. */
    static String failures() {
        return PREFIX + "failures";
    }

    /** Rank {@code r}'s value in the {@code n}-th comparison of {@link ConfigCheck}. */
    static String checkValue(int n, int rank) {
        return PREFIX + "check/" + n + "/" + rank;
    }

    /** Rank 0's verdict on the {@code n}-th comparison: "ok" or the ranks that differ. */
    static String checkVerdict(int n) {
        return PREFIX + "check/" + n + "/verdict";
    }
}
