package org.tasft.distributed;

import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

import org.bytedeco.javacpp.SizeTPointer;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.StringVector;
import org.bytedeco.pytorch.TCPStore;
import org.bytedeco.pytorch.TCPStoreOptions;

/**
 * Joining the job through rank 0's {@code TCPStore}: rank 0 opens it on {@code MASTER_PORT}, the others connect to
 * it, and every rank registers and waits until all have (the error names those that did not).
 */
final class Rendezvous {
    private Rendezvous() {
    }

    /** Rank 0 opens the store, the others connect to it (each within {@code timeout}). */
    static TCPStore openStore(LaunchEnvironment env, Duration timeout) {
        TCPStoreOptions o = new TCPStoreOptions();
        o.port((short) env.masterPort());
        o.isServer(env.rank() == 0);
        o.numWorkers(new SizeTPointer(1).put(env.worldSize()));
        o.waitWorkers(false);
        o.timeout(new Milliseconds(timeout.toMillis()));
        try {
            return new TCPStore(env.masterAddr(), o);
        } catch (RuntimeException e) {
            if (env.rank() == 0) {
                throw new RankFailureException("rank 0 could not open the rendezvous store on port "
                        + env.masterPort() + " (another job on MASTER_PORT?): " + C10dErrors.shortMessage(e),
                        List.of(0), e);
            }
            throw new RankFailureException("rank " + env.rank() + " could not reach rank 0's rendezvous store at "
                    + env.masterAddr() + ":" + env.masterPort() + " within " + timeout.toSeconds() + " s: "
                    + C10dErrors.shortMessage(e), List.of(0), e);
        }
    }

    /** Registers this rank ("host pid N") and waits for all; the error names the ranks that did not join. */
    static void join(Store store, LaunchEnvironment env, Duration timeout) {
        store.set(StoreKeys.join(env.rank()), hostName() + " pid " + ProcessHandle.current().pid());
        List<String> keys = new ArrayList<>();
        for (int r = 0; r < env.worldSize(); r++) {
            keys.add(StoreKeys.join(r));
        }
        try {
            store._wait(new StringVector(keys.toArray(new String[0])), new Milliseconds(timeout.toMillis()));
        } catch (RuntimeException e) {
            List<Integer> missing = new ArrayList<>();
            try {
                for (int r = 0; r < env.worldSize(); r++) {
                    if (!store.check(new StringVector(keys.get(r)))) {
                        missing.add(r);
                    }
                }
            } catch (RuntimeException storeGone) {
                missing = List.of(0);
            }
            throw new RankFailureException("rank " + env.rank() + ": rank(s) " + missing.stream().map(String::valueOf)
                    .collect(Collectors.joining(", ")) + " did not join within " + timeout.toSeconds()
                    + " s (rendezvous store " + env.masterAddr() + ":" + env.masterPort() + ", WORLD_SIZE "
                    + env.worldSize() + ")", missing, e);
        }
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            return "?";
        }
    }
}
